"""The README's figures, from the demo's models and synthetic data.

    make demo                      # trains the four GMSA models -> runs/demo
    python examples/figures.py     # -> docs/figures/*.png

It reads the demo's cached shards (the same ones `keras-gmsa demo` made),
loads ``runs/demo/{baseline,shareatt,gateatt,gateop}.keras``, trains a
small Attention Clusters model on the same shards for its weight maps, and
writes the four figures with `keras_gmsa.analysis`:

- ``similarity.png``: Figure 1, cosine similarity of a test video's RGB
  features next to three attention heads of the baseline;
- ``profiles.png``: Figure 3, GateOp's global and local attention profiles
  of that video, with GateOp's and the baseline's top labels;
- ``sensitivity.png``: Figure 4, S_i averaged over 16 test videos for the
  four models (N_i = TP4);
- ``clusters.png``: attention-cluster weight maps of the video.
"""

import argparse
import os

import keras
import numpy as np

import keras_gmsa
from keras_gmsa import analysis
from keras_gmsa import data
from keras_gmsa import demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo-dir", default="runs/demo")
    parser.add_argument(
        "--cache-dir",
        default=os.path.join(os.path.expanduser("~"), ".cache", "keras-gmsa"),
    )
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--video", type=int, default=0)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--cluster-epochs", type=int, default=6)
    args = parser.parse_args(argv)
    # tf.data feeds the model; keep TensorFlow off the GPUs of JAX/PyTorch.
    data.hide_gpus_from_tensorflow()

    models = {}
    for name, *_ in demo.MODELS:
        path = os.path.join(args.demo_dir, f"{name}.keras")
        if not os.path.exists(path):
            raise SystemExit(f"{path} is missing: run `make demo` first.")
        models[name] = keras.saving.load_model(path)
    root = demo._data(
        os.path.join(args.cache_dir, "demo"), 2048, 512, 0, verbose=0
    )
    frames = os.path.join(root, "frame")
    vocabulary = data.Vocabulary.load(os.path.join(root, "vocabulary.csv"))
    test = data.dataset_for_model(
        models["baseline"], os.path.join(frames, "test*.tfrecord"), batch_size=1
    )
    videos = [
        {k: v[0] for k, v in features.items()}
        for features, _ in test.take(
            args.video + args.videos
        ).as_numpy_iterator()
    ]
    video = videos[args.video]
    os.makedirs(args.out, exist_ok=True)

    def out(name):
        return os.path.join(args.out, name)

    analysis.similarity_and_attention(
        models["baseline"], video, heads=(0, 1, 2), path=out("similarity.png")
    )
    profiles = analysis.attention_profiles(
        models["gateop"],
        video,
        baseline=models["baseline"],
        vocabulary=vocabulary,
        path=out("profiles.png"),
    )
    sensitivity = analysis.local_sensitivity(
        models,
        videos[: args.videos],
        neighbourhood="tp4",
        path=out("sensitivity.png"),
    )

    keras.utils.set_random_seed(0)
    common = dict(
        num_classes=demo.DATA["num_classes"],
        max_frames=demo.DATA["max_frames"],
    )
    clusters = keras_gmsa.build_model(
        "attention_cluster", num_units=8, **common
    )
    train = data.dataset_for_model(
        clusters,
        os.path.join(frames, "train*.tfrecord"),
        batch_size=32,
        shuffle=True,
        seed=0,
    )
    clusters.fit(train, epochs=args.cluster_epochs, verbose=2)
    analysis.cluster_weight_maps(clusters, video, path=out("clusters.png"))

    print("top labels:", profiles["predictions"])
    for name, values in sensitivity.items():
        print(f"mean S_i {name:<9} {np.nanmean(values):.3f}")
    print(
        f"Wrote {args.out}/similarity.png, profiles.png, sensitivity.png, "
        "clusters.png"
    )


if __name__ == "__main__":
    main()
