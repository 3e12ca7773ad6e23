"""The three layouts read without TensorFlow, as Grain datasets or
PyTorch DataLoaders: `keras_gmsa.data`'s readers, the same arguments."""

import numpy as np

from keras_gmsa.constants import FRAME_FEATURES
from keras_gmsa.constants import MAX_FRAMES
from keras_gmsa.constants import NUM_CLASSES
from keras_gmsa.constants import SEGMENT_SIZE
from keras_gmsa.constants import VIDEO_FEATURES
from keras_gmsa.data.options import reader_options
from keras_gmsa.loaders.parsers import FrameParser
from keras_gmsa.loaders.parsers import VideoParser
from keras_gmsa.loaders.reading import Reading
from keras_gmsa.loaders.segment_parser import SegmentParser
from keras_gmsa.loaders.tfrecord import ReadStats
from keras_gmsa.loaders.tfrecord import resolve_files

FRAMEWORKS = ("grain", "torch")
# keras_gmsa.data.video's: video-level records are small.
VIDEO_DEFAULTS = dict(batch_size=1024, shuffle_buffer=8192)


def check_layout(features, num_classes, max_frames=None):
    """`keras_gmsa.data.pipeline.check_layout`'s checks."""
    features = dict(features)
    if not features:
        raise ValueError("`features` must name at least one feature.")
    for key, size in features.items():
        if not isinstance(size, int) or size < 1:
            raise ValueError(
                f"Feature {key!r} needs a positive integer size; got {size!r}."
            )
    for name, value in (
        ("num_classes", num_classes),
        ("max_frames", max_frames),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(
                f"`{name}` must be a positive integer. Received {value!r}."
            )
    return features


def _loader(pattern, parser, options, stats, framework, num_workers, **kw):
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"framework must be one of {FRAMEWORKS}; got {framework!r}."
        )
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(
            f"num_workers must be a non-negative integer; got {num_workers!r}."
        )
    reading = Reading(resolve_files(pattern), parser, options, **kw)
    stats = stats or ReadStats()
    seed = options.seed
    if seed is None:
        # No seed: an order of this loader's own (every read of it the
        # same; a new loader, a new order).
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if framework == "grain":
        from keras_gmsa.loaders.grain_loader import grain_dataset

        return grain_dataset(reading, seed, stats, num_workers)
    from keras_gmsa.loaders.torch_loader import RecordLoader

    return RecordLoader(reading, seed, stats, num_workers)


def frame_loader(
    pattern,
    features=None,
    num_classes=NUM_CLASSES,
    max_frames=MAX_FRAMES,
    dequantize_frames=False,
    allow_zero_frames=False,
    stats=None,
    options=None,
    framework="grain",
    num_workers=0,
    **kwargs,
):
    """Frame-level records (`keras_gmsa.data.frame_dataset`'s arguments
    and batches) without TensorFlow.

    Args:
        framework: ``"grain"``: a `grain.IterDataset`; ``"torch"``: a
            `torch.utils.data.DataLoader` (tensors).
        num_workers: worker processes that parse (0: the iterating one).
        Others: as `keras_gmsa.data.frame_dataset`.

    Returns:
        An iterable of ``({name: uint8 (B, max_frames, size), ...,
        "num_frames": int32 (B,)}, float32 (B, num_classes))`` (with
        ``with_ids``, a third element: the ids, a NumPy array of bytes),
        with ``read_stats`` (a `ReadStats`).
    """
    options = reader_options(options, **kwargs)
    features = check_layout(features or FRAME_FEATURES, num_classes, max_frames)
    parser = FrameParser(
        features, num_classes, max_frames, dequantize_frames, allow_zero_frames
    )
    return _loader(pattern, parser, options, stats, framework, num_workers)


def video_loader(
    pattern,
    features=None,
    num_classes=NUM_CLASSES,
    stats=None,
    options=None,
    framework="grain",
    num_workers=0,
    **kwargs,
):
    """Video-level records (`keras_gmsa.data.video_dataset`'s arguments
    and batches; ``batch_size`` 1024 by default) without TensorFlow;
    `framework` and `num_workers` as in `frame_loader`."""
    options = reader_options(options, VIDEO_DEFAULTS, **kwargs)
    features = check_layout(features or VIDEO_FEATURES, num_classes)
    parser = VideoParser(features, num_classes)
    return _loader(pattern, parser, options, stats, framework, num_workers)


def segment_loader(
    pattern,
    features=None,
    num_classes=NUM_CLASSES,
    segment_size=SEGMENT_SIZE,
    max_frames=MAX_FRAMES,
    dequantize_frames=False,
    rated_only=True,
    stats=None,
    options=None,
    framework="grain",
    num_workers=0,
    transform=None,
    **kwargs,
):
    """The 2019 segment-rated records, one example per segment
    (`keras_gmsa.data.segment_dataset`'s arguments and batches) without
    TensorFlow; `framework` and `num_workers` as in `frame_loader`;
    `transform`, a function of each batch (picklable)."""
    options = reader_options(options, **kwargs)
    features = check_layout(features or FRAME_FEATURES, num_classes, max_frames)
    if not isinstance(segment_size, int) or not 1 <= segment_size <= max_frames:
        raise ValueError(
            f"segment_size must be an integer in [1, max_frames]; received "
            f"{segment_size!r}."
        )
    parser = SegmentParser(
        features,
        num_classes,
        segment_size,
        max_frames,
        dequantize_frames,
        rated_only,
    )
    return _loader(
        pattern,
        parser,
        options,
        stats,
        framework,
        num_workers,
        per_video=True,
        transform=transform,
    )
