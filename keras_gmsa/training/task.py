"""What a run trains: its model and its data, from a `RunConfig`.

(The shape of TF Model Garden's yt8m task: one place that turns the
config into a compiled model and the datasets `Model.fit` reads.)
"""

from keras_gmsa.training.config import as_run_config
from keras_gmsa.training.schedules import decay_schedule


def model_options(config):
    """`build_model` options from a run config (a `RunConfig` or dict),
    for frame- or video-level models alike (video-level models have no
    ``max_frames``); with schedule "decay", the learning rate is
    `decay_schedule`'s."""
    from keras_gmsa.models import registry

    config = as_run_config(config)
    allowed = registry.model_options(config.model)
    options = dict(num_classes=config.num_classes)
    for key in ("features", "learning_rate", "max_frames"):
        if getattr(config, key) is not None and key in allowed:
            options[key] = getattr(config, key)
    options.update(config.model_options)
    if config.schedule == "decay":
        start = options.get("learning_rate")
        if start is None:
            start = registry.model_defaults(config.model)["learning_rate"]
        options["learning_rate"] = decay_schedule(
            start,
            config.batch_size,
            config.lr_decay,
            config.lr_decay_examples,
        )
    return options


def build_run_model(config):
    """The run's model: built from the config, or loaded from
    ``init_from``; compiled for segments with the label-weighted loss."""
    import keras

    import keras_gmsa
    from keras_gmsa.segments import task as segment_task

    config = as_run_config(config)
    if config.init_from:
        model = _load_init_from(config)
    else:
        model = keras_gmsa.build_model(
            config.model,
            mask=config.mask,
            W=config.W,
            L=config.L,
            **model_options(config),
        )
    if config.init_from or config.segments:
        # A fresh optimizer of the model's kind (its state starts anew);
        # the config's learning rate, if it gives one.
        optimizer = model.optimizer or keras.optimizers.Adam()
        settings = optimizer.get_config()
        if config.learning_rate is not None or config.schedule == "decay":
            settings["learning_rate"] = model_options(config)["learning_rate"]
        loss = (
            segment_task.LabelWeightedBinaryCrossentropy()
            if config.segments
            else keras.losses.BinaryCrossentropy()
        )
        model.compile(
            optimizer=type(optimizer).from_config(settings),
            loss=loss,
            jit_compile=getattr(model, "jit_compile", "auto"),
        )
    return model


def _load_init_from(config):
    from keras_gmsa.models import preset_io

    try:
        # A .keras file, or a preset (directory, hf://, kaggle://).
        model = preset_io.load_model(config.init_from)
    except preset_io.PresetError as error:
        raise ValueError(f"init_from {error}") from error
    except (OSError, ValueError, ImportError) as error:
        # ImportError: an hf:// model without huggingface_hub.
        raise ValueError(
            f"init_from {config.init_from}: the model cannot be "
            f"loaded ({str(error).splitlines()[0]})"
        ) from error
    if int(model.output_shape[-1]) != config.num_classes:
        raise ValueError(
            f"init_from {config.init_from} scores "
            f"{model.output_shape[-1]} classes; the config says "
            f"num_classes={config.num_classes}."
        )
    return model


def datasets(model, config, data_seed, with_ids=False):
    """The run's training and validation data.

    Training batches are global batches, shuffled from `data_seed` in a
    deterministic order: every process of a multi-host run builds the
    same stream, and Keras' DataParallel (JAX) gives each its own part of
    every batch. Every process reads the whole validation set. For the
    segment task the validation data is the records' pattern, which
    `keras_gmsa.callbacks.SegmentMetrics` reads itself.
    """
    from keras_gmsa import loaders

    config = as_run_config(config)
    read = dict(loader=config.loader, num_workers=config.loader_workers)
    shuffled = dict(
        batch_size=config.batch_size,
        shuffle=True,
        shuffle_buffer=config.shuffle_buffer,
        # The same --seed, the same batches: a run is reproducible.
        deterministic=True,
        seed=data_seed,
        repeat=True,
        drop_remainder=True,
        on_error=config.on_error,
        id_split=config.train_id_split,
    )
    if config.segments:
        from keras_gmsa.segments import task as segment_task

        train = segment_task.training_data(
            model, config.train, **read, **shuffled
        )
        return train, config.validation
    train = loaders.loader_for_model(
        model,
        config.train,
        sample_given_labels=True,
        with_ids=with_ids,
        **read,
        **shuffled,
    )
    validation = loaders.loader_for_model(
        model,
        config.validation,
        **read,
        batch_size=config.validation_batch_size,
        on_error=config.on_error,
        id_split=config.validation_id_split,
    )
    return train, validation
