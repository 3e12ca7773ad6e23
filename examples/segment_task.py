"""The 2019 segment task on synthetic data: fine-tune, then two scorers.

    python examples/segment_task.py [--videos 768] [--epochs 6] [--out DIR]

1. Writes synthetic segment-rated records (`keras-gmsa synth --layouts
   segment`): ratings follow each 5-frame segment's own frames, and local
   events (two motif frames close together, with far-apart distractors)
   are rated where they happen.
2. Trains a GateOp (TP2) on the video labels, then fine-tunes it on the
   rated segments with label weights (`keras-gmsa train --segments
   --init-from`).
3. Reports the segment MAP (`keras_gmsa.segments.segment_map`) of the
   untrained, the video-level and the fine-tuned model, each scored two
   ways: the model on each 5-frame window, and one pass over the video
   pooled per segment.
"""

import argparse
import os

import keras

from keras_gmsa import cli
from keras_gmsa import segments
from keras_gmsa.data import hide_gpus_from_tensorflow

CLASSES = 24
FRAMES = 40
SHAPE = ["--num-classes", str(CLASSES), "--max-frames", str(FRAMES)]
SIZES = ["--features", "rgb:64,audio:16"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=768)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default="runs/segments")
    args = parser.parse_args()
    hide_gpus_from_tensorflow()
    data = os.path.join(args.out, "data")
    common = [*SHAPE, "--local-classes", "8", *SIZES, "--seed", "1"]
    for split, count in (
        ("train", args.videos),
        ("validate", args.videos // 3),
    ):
        cli.main(
            ["synth", data, "--videos", str(count), "--shards", "2"]
            + ["--split", split, "--layouts", "frame", "segment", *common]
        )
    run = [*SHAPE, *SIZES, "--batch-size", "32", "--no-tensorboard"]
    run += ["--steps-per-validation", str(max(args.videos // 32, 1))]
    run += ["--max-validations", str(args.epochs), "--schedule", "constant"]
    run += ["--learning-rate", "0.002"]
    model = ["--model", "gateop", "--mask", "tp", "--W", "2"]
    model += ["--option", "projection_dim=32", "--option", "hidden_dim=64"]
    model += ["--option", "num_heads=4"]
    video_run = os.path.join(args.out, "video")
    cli.main(
        ["train", "--run-dir", video_run, *model, *run]
        + ["--train", f"{data}/frame/train*", "--validation"]
        + [f"{data}/frame/validate*"]
    )
    segment_run = os.path.join(args.out, "segment")
    cli.main(
        ["train", "--run-dir", segment_run, "--segments", *run]
        + ["--init-from", f"{video_run}/best.keras"]
        + ["--train", f"{data}/segment/train*", "--validation"]
        + [f"{data}/segment/validate*"]
    )
    import keras_gmsa

    untrained = keras_gmsa.build_model(
        "gateop",
        mask="tp",
        W=2,
        num_classes=CLASSES,
        max_frames=FRAMES,
        features={"rgb": 64, "audio": 16},
        projection_dim=32,
        hidden_dim=64,
        num_heads=4,
    )
    models = {
        "untrained": untrained,
        "video labels": keras.saving.load_model(f"{video_run}/best.keras"),
        "fine-tuned on segments": keras.saving.load_model(
            f"{segment_run}/best.keras"
        ),
    }
    pattern = f"{data}/segment/validate*"
    print("\n| model | segment MAP, windows | segment MAP, pooled |")
    print("|---|---|---|")
    for name, m in models.items():
        scores = [
            segments.evaluate_segments(m, pattern, scorer=s)["segment_map"]
            for s in segments.SCORERS
        ]
        print(f"| {name} | {scores[0]:.4f} | {scores[1]:.4f} |")


if __name__ == "__main__":
    main()
