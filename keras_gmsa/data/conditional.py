"""The given labels of conditional-inference models (Kim et al. 2018)."""

import tensorflow as tf

from keras_gmsa.names import GIVEN_LABELS


def sample_label_subsets(labels, max_given=4, seed=None):
    """Random subsets of each row's positive labels, as multi-hot.

    Row b keeps m_b of its n_b positives, m_b uniform in
    {0, ..., min(n_b, max_given)}, the kept ones uniform without
    replacement: the labels a conditional-inference model has "already
    chosen" when it is trained (Kim et al. 2018, sec. 3.2). ``max_given``
    matches the inference steps, so training sees every chain length that
    inference produces.

    Args:
        labels: float ``(B, C)`` multi-hot.
        max_given: most labels given per row.
        seed: an int, or a shape-[2] int tensor, for reproducible subsets.

    Returns:
        float32 ``(B, C)``, a subset of `labels`.
    """
    positive = tf.greater(labels, 0.5)
    count = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    top = tf.minimum(count, max_given)
    if seed is None:
        draw = tf.random.uniform(tf.shape(count))
        noise = tf.random.uniform(tf.shape(labels))
    else:
        seed = tf.cast(tf.reshape(seed, [-1]), tf.int64)
        seed = tf.concat([seed, tf.zeros([2], tf.int64)], 0)[:2]
        draw = tf.random.stateless_uniform(tf.shape(count), seed)
        noise = tf.random.stateless_uniform(
            tf.shape(labels), tf.stack([seed[0], seed[1] + 1_000_003])
        )
    keep = tf.cast(tf.floor(draw * tf.cast(top + 1, tf.float32)), tf.int32)
    keep = tf.minimum(keep, top)
    noise = tf.where(positive, noise, -1.0)
    rank = tf.argsort(tf.argsort(-noise, axis=1), axis=1)
    chosen = tf.logical_and(positive, rank < keep[:, None])
    return tf.cast(chosen, tf.float32)


def with_given_labels(dataset, training=False, max_given=4, seed=None):
    """Adds the ``given_labels`` input of conditional-inference models.

    In training, a random subset of each video's true labels
    (`sample_label_subsets`); otherwise zeros, so the model runs its
    greedy label chain from scratch. Works on ``(features, labels)`` and
    ``(features, labels, ids)`` elements.
    """

    def add(index, element):
        features, labels, *rest = element
        if not training:
            given = tf.zeros_like(labels, dtype=tf.float32)
        elif seed is None:
            given = sample_label_subsets(labels, max_given)
        else:
            # A different stateless draw per batch, the same on every run.
            batch_seed = tf.stack([tf.cast(seed, tf.int64), index])
            given = sample_label_subsets(labels, max_given, batch_seed)
        return (dict(features, **{GIVEN_LABELS: given}), labels, *rest)

    return dataset.enumerate().map(add, num_parallel_calls=tf.data.AUTOTUNE)
