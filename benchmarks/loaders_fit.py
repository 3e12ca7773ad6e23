"""Records to trained steps without TensorFlow, for the first GPU run.

    KERAS_BACKEND=jax python benchmarks/loaders_fit.py   # Grain
    KERAS_BACKEND=torch python benchmarks/loaders_fit.py --workers 8

The end-to-end mode of the GPU benchmark (`benchmarks/models.py`, which
feeds in-memory batches): on the host itself, without TensorFlow,

1. writes ``--videos`` full-shape frame-level records (300 frames of
   1024 + 128 random bytes, 3862 classes, 3 labels; 500 per shard) with
   `keras_gmsa.loaders.schema` and `write_records`, timed;
2. builds one model of `benchmarks/models.py` (``--model``, the GMSA
   baseline by default; ``--policy mixed_bfloat16`` for the GPU);
3. alternates ``model.fit`` of ``--steps`` steps from the records (a
   `keras_gmsa.loaders` Grain dataset on JAX, a DataLoader on PyTorch,
   ``--workers`` parsing processes, read as ``keras-gmsa train`` reads:
   shuffled, seeded, repeated, whole batches) with ``fit`` of the same
   number of steps from a batch held in memory, until ``--seconds`` have
   passed (at least one round each after warm-up).

A callback times every step, data included (the first of each fit, a new
iterator, is left out). The ratio is the in-memory median step time over
the from-records one: 1.00, the reader costs the step nothing. Prints a
table and writes ``benchmarks/results/<--name>.json``.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

FRAMES, SIZES, CLASSES = 300, {"rgb": 1024, "audio": 128}, 3862


def write_records(directory, videos, per_shard=500, seed=0):
    """Full-shape SequenceExamples, written without TensorFlow."""
    import numpy as np

    from keras_gmsa.loaders.schema import SequenceExample
    from keras_gmsa.loaders.tfrecord import write_records as write

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for shard in range(0, videos, per_shard):
        payloads = []
        for n in range(shard, min(shard + per_shard, videos)):
            example = SequenceExample()
            context = example.context.feature
            context["id"].bytes_list.value.append(f"v{n:07d}".encode())
            labels = rng.choice(CLASSES, 3, replace=False).tolist()
            context["labels"].int64_list.value.extend(labels)
            for name, size in SIZES.items():
                frames = rng.integers(0, 256, (FRAMES, size), dtype=np.uint8)
                feature_list = example.feature_lists.feature_list[name]
                for row in frames:
                    feature_list.feature.add().bytes_list.value.append(
                        row.tobytes()
                    )
            payloads.append(example.SerializeToString())
        write(os.path.join(directory, f"train{shard:07d}.tfrecord"), payloads)
    return time.perf_counter() - start


def _timer():
    import keras

    class StepTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times, self._last = [], time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # wait for the (asynchronous) step
            now = time.perf_counter()
            self.times.append(now - self._last)
            self._last = now

    return StepTimes()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--policy", default="float32")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--loader",
        choices=["grain", "torch", "tf"],
        help="default: the backend's (torch on PyTorch, else grain)",
    )
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument(
        "--data", default=os.path.join(HERE, ".data", "loaders_fit")
    )
    parser.add_argument("--name", default="loaders_fit")
    args = parser.parse_args()

    import keras
    from models import MODELS
    from models import _batch
    from models import _build

    from keras_gmsa import loaders

    marker = os.path.join(args.data, f"done-{args.videos}")
    write_s = None
    if not os.path.exists(marker):
        write_s = write_records(args.data, args.videos)
        open(marker, "w").close()
    pattern = os.path.join(args.data, "train*.tfrecord")
    if args.model not in MODELS:
        parser.error(f"--model: one of {sorted(MODELS)}")
    model = _build(args.model, FRAMES, policy=args.policy)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    loader = args.loader or (
        "torch" if keras.backend.backend() == "torch" else "grain"
    )
    records = loaders.loader_for_model(
        model,
        pattern,
        loader=loader,
        num_workers=args.workers,
        batch_size=args.batch_size,
        shuffle=True,
        seed=0,
        repeat=True,
        drop_remainder=True,
    )
    x, y = _batch(model, args.batch_size, FRAMES)
    memory = (
        {k: v.repeat(args.steps, axis=0) for k, v in x.items()},
        y.repeat(args.steps, axis=0),
    )

    def fit(source):
        timer = _timer()
        if source == "records":
            model.fit(
                records,
                steps_per_epoch=args.steps,
                epochs=1,
                shuffle=False,  # the loader shuffles
                verbose=0,
                callbacks=[timer],
            )
        else:
            model.fit(
                *memory,
                batch_size=args.batch_size,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[timer],
            )
        return timer.times[1:]

    start = time.perf_counter()
    fit("memory"), fit("records")  # compile, start the workers
    times, ratios, rounds = {"memory": [], "records": []}, [], 0
    while rounds < 1 or time.perf_counter() - start < args.seconds:
        order = ("memory", "records")
        if rounds % 2:
            order = order[::-1]
        medians = {}
        for source in order:
            step = fit(source)
            times[source] += step
            medians[source] = statistics.median(step)
        ratios.append(medians["memory"] / medians["records"])
        rounds += 1
    memory_s = statistics.median(times["memory"])
    records_s = statistics.median(times["records"])
    result = dict(
        backend=keras.backend.backend(),
        loader=loader,
        model=args.model,
        policy=args.policy,
        batch=args.batch_size,
        steps=args.steps,
        workers=args.workers,
        rounds=rounds,
        videos=args.videos,
        write_s=write_s,
        memory_videos_per_s=args.batch_size / memory_s,
        records_videos_per_s=args.batch_size / records_s,
        ratio=memory_s / records_s,
        round_ratios=ratios,
        cpu_count=os.cpu_count(),
        seconds=time.perf_counter() - start,
    )
    print(
        f"{'backend':<8} {'loader':<14} {'workers':>7} {'batch':>5} "
        f"{'memory v/s':>10} {'records v/s':>11} {'ratio':>6}"
    )
    print(
        f"{result['backend']:<8} {result['loader']:<14} {args.workers:>7} "
        f"{args.batch_size:>5} {result['memory_videos_per_s']:10.0f} "
        f"{result['records_videos_per_s']:11.0f} {result['ratio']:6.3f}"
    )
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{args.name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
