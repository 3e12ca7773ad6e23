"""`keras-gmsa models`: the zoo and the presets, as an aligned table."""


def add_parser(sub, parents):
    p = sub.add_parser(
        "models",
        help="list the model zoo and the papers' presets",
        description="Lists every name build_model takes: the models, then "
        "the presets (papers' configurations).",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    # (Started as `keras-gmsa models`, the process runs on Keras' NumPy
    # backend: a listing imports no TensorFlow; see keras_gmsa/_startup.py.)
    import keras_gmsa

    rows = [("model", "what")]
    rows += list(keras_gmsa.list_models(with_descriptions=True).items())
    presets = keras_gmsa.list_presets(with_descriptions=True)
    width = max(len(name) for name, _ in rows + list(presets.items()))
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    print()
    print(f"{'preset':<{width}}  what")
    for name, text in presets.items():
        print(f"{name:<{width}}  {text}")
