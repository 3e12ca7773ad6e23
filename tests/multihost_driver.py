"""One process of a multi-host run's input, as `keras-gmsa train` reads it.

    python -m tests.multihost_driver CONFIG.json STEPS OUT_DIR

Joins the other processes exactly as `training.train` does (the
KERAS_DISTRIBUTION_* or TF_CONFIG variables, `training.distribution_scope`),
builds the run's training dataset (`training.datasets`, with video ids)
and hands it to the distribution as `Model.fit` would (Keras'
`Distribution.distribute_dataset` on JAX, tf.distribute's
`experimental_distribute_dataset` on TensorFlow). Writes the ids of the
videos this process gets in the first STEPS global batches to
``OUT_DIR/ids_<process index>.json``. Used by tests/test_multihost.py.
"""

import json
import os
import sys


def main(config_path, steps, out_dir):
    import keras

    import keras_gmsa
    from keras_gmsa import training

    with open(config_path) as f:
        config = training.resolve_config(json.load(f))
    scope, _, cluster = training.distribution_scope(
        training.multi_host() is not None, config["batch_size"]
    )
    keras.utils.set_random_seed(config["seed"])
    with scope:
        model = keras_gmsa.build_model(
            config["model"], **training.model_options(config)
        )
        train, _ = training.datasets(
            model, config, config["seed"], with_ids=True
        )
    if cluster.count > 1 and keras.backend.backend() == "jax":
        train = keras.distribution.distribution().distribute_dataset(train)
    elif cluster.count > 1:
        train = cluster.strategy.experimental_distribute_dataset(train)
    ids = []
    for step, batch in enumerate(train):
        if step == steps:
            break
        local = batch[2]
        if cluster.count > 1 and keras.backend.backend() == "tensorflow":
            parts = cluster.strategy.experimental_local_results(local)
        else:
            parts = [local]
        for part in parts:
            ids += [i.decode() for i in part.numpy().tolist()]
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"ids_{cluster.index}.json")
    with open(path, "w") as f:
        json.dump(
            {"index": cluster.index, "count": cluster.count, "ids": ids}, f
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
