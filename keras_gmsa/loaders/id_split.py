"""The id split of `keras_gmsa.data.id_split` without TensorFlow.

The same published hash: FarmHash's Fingerprint64 of the id's bytes
(``tf.strings.to_hash_bucket_fast``'s, here from pyfarmhash) modulo
10^6, below ``round(fraction * 10^6)`` for the holdout part; both paths
agree on every id (tests/loaders/test_equal_to_tf_data.py).
"""

import farmhash

from keras_gmsa.data.id_split import BUCKETS


def bucket(video_id):
    """The hash bucket of one id (str or bytes)."""
    if isinstance(video_id, str):
        video_id = video_id.encode()
    return farmhash.fingerprint64(bytes(video_id)) % BUCKETS


def id_predicate(split):
    """A function of one id (bytes): whether `split` keeps it."""
    threshold = round(split.fraction * BUCKETS)
    holdout = split.part == "holdout"
    return lambda video_id: (bucket(video_id) < threshold) == holdout
