"""Losses beyond Keras' own. The one there is, the 2019 segment task's,
lives in `keras_gmsa.segments.loss`; importing this module (as
`keras_gmsa` does) registers it for `.keras` files."""

from keras_gmsa.segments.loss import LabelWeightedBinaryCrossentropy  # noqa: F401
