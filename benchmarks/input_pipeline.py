"""Input pipeline throughput: keras_gmsa readers vs a starter-style reader.

    python benchmarks/input_pipeline.py [--videos 4096] [--batch-size 64]

Writes synthetic shards (cached in benchmarks/.data), then, each in its own
process so peak memory is its own, reads them with

- ``keras_gmsa``: `frame_dataset` / `video_dataset` (batched parsing,
  uint8 frames, dequantized later inside the model);
- ``starter``: the official reader's recipe (yt8m-format.md 4.2): one
  record at a time, ``parse_single_sequence_example``, decode, dequantize
  to float32, pad/crop to 300, in a ``map`` with AUTOTUNE parallelism,
  then batch;
- ``grain`` / ``torch`` (issue 29): `keras_gmsa.loaders` without
  TensorFlow, the same batches as ``keras_gmsa``, parsed in the iterating
  process (``_0w``) or in worker processes (``_2w``: Grain's
  ``mp_prefetch``, DataLoader workers).

The loaders are read through one iterator over ``--epochs`` passes (their
worker processes start once, as in training; the first batch's wait is
``first_batch_s``); the other readers pass by pass; the first pass is
warm-up in both. ``--cores 1,2`` measures the tf.data reader and the
loaders again on one core and on two (the child's CPU affinity, set
before TensorFlow starts its thread pools): the loaders' own parsing in
the iterating process on one core, two worker processes on two.

Prints a table (videos/s, MB/s of frame bytes, peak RSS) and writes
benchmarks/results/input_pipeline.json. Ratios are against the starter
reader measured in the same run.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, ".data", "input_pipeline")


def _write(videos):
    from keras_gmsa.data import synthetic

    marker = os.path.join(DATA, f"done-{videos}")
    if not os.path.exists(marker):
        gen = synthetic.SyntheticYT8M(num_classes=3862)
        synthetic.write_dataset(
            DATA,
            num_videos=videos,
            num_shards=16,
            generator=gen,
            layouts=("frame", "video"),
        )
        open(marker, "w").close()


def _starter_frame(pattern, batch_size):
    import tensorflow as tf

    def parse(serialized):
        context, lists = tf.io.parse_single_sequence_example(
            serialized,
            context_features={
                "id": tf.io.FixedLenFeature([], tf.string),
                "labels": tf.io.VarLenFeature(tf.int64),
            },
            sequence_features={
                k: tf.io.FixedLenSequenceFeature([], tf.string)
                for k in ("rgb", "audio")
            },
        )
        feats = []
        num_frames = None
        for key, size in (("rgb", 1024), ("audio", 128)):
            x = tf.reshape(
                tf.cast(tf.io.decode_raw(lists[key], tf.uint8), tf.float32),
                [-1, size],
            )
            if num_frames is None:
                num_frames = tf.minimum(tf.shape(x)[0], 300)
            x = x * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)
            x = x[:300]
            x = tf.pad(x, [[0, 300 - tf.shape(x)[0]], [0, 0]])
            feats.append(x)
        labels = tf.sparse.to_indicator(context["labels"], 3862)
        return {"frames": tf.concat(feats, 1), "num_frames": num_frames}, labels

    files = tf.io.gfile.glob(pattern)
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=8)
    return (
        ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def _starter_video(pattern, batch_size):
    import tensorflow as tf

    def parse(serialized):
        f = tf.io.parse_single_example(
            serialized,
            {
                "id": tf.io.FixedLenFeature([], tf.string),
                "labels": tf.io.VarLenFeature(tf.int64),
                "mean_rgb": tf.io.FixedLenFeature([1024], tf.float32),
                "mean_audio": tf.io.FixedLenFeature([128], tf.float32),
            },
        )
        return tf.concat(
            [f["mean_rgb"], f["mean_audio"]], 0
        ), tf.sparse.to_indicator(f["labels"], 3862)

    files = tf.io.gfile.glob(pattern)
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=8)
    return (
        ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def _measure(reader, layout, batch_size, epochs):
    """Runs in a child process; prints one JSON line."""
    import numpy as np

    from keras_gmsa import data

    pattern = os.path.join(DATA, layout, "train*.tfrecord")
    if reader.startswith(("grain", "torch")):
        from keras_gmsa import loaders

        framework, workers = reader.split("_")
        make = (
            loaders.frame_loader
            if layout == "frame"
            else (loaders.video_loader)
        )
        # One iterator over `epochs` passes (its worker processes start
        # once, as in training), timed per pass below.
        ds = make(
            pattern,
            batch_size=batch_size,
            framework=framework,
            num_workers=int(workers[:-1]),
            repeat=epochs,
        )
    elif reader.startswith("keras_gmsa"):
        # keras_gmsa_skip: on_error="skip", which probes every record's
        # feature types (records of other types are skipped and counted).
        # keras_gmsa_train: shuffled as `keras-gmsa train` reads, in the
        # deterministic order of its seed; _any_order: tf.data free to
        # hand out whichever shard's record is ready first.
        on_error = "skip" if reader.endswith("_skip") else "raise"
        make = data.frame_dataset if layout == "frame" else data.video_dataset
        shuffled = {}
        if "_train" in reader:
            shuffled = dict(
                shuffle=True,
                seed=0,
                deterministic=not reader.endswith("_any_order"),
            )
        ds = make(pattern, batch_size=batch_size, on_error=on_error, **shuffled)
    else:
        make = _starter_frame if layout == "frame" else _starter_video
        ds = make(pattern, batch_size)
    rates = []
    first_batch_s = None
    if reader.startswith(("grain", "torch")):
        start = time.perf_counter()
        stamps = []
        for element in ds:
            stamps.append((time.perf_counter(), int(element[1].shape[0])))
        first_batch_s = stamps[0][0] - start
        counts = np.cumsum([n for _, n in stamps])
        videos = int(counts[-1]) // epochs
        ends = [
            stamps[np.searchsorted(counts, videos * (p + 1))][0]
            for p in range(epochs)
        ]
        begins = [start] + ends[:-1]
        rates = [videos / (e - b) for b, e in zip(begins, ends, strict=True)]
    for _ in range(epochs if not rates else 0):
        start = time.perf_counter()
        videos = 0
        for element in ds:
            labels = element[1]
            videos += int(labels.shape[0])
        rates.append(videos / (time.perf_counter() - start))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            dict(
                reader=reader,
                cores=len(os.sched_getaffinity(0)),
                layout=layout,
                batch_size=batch_size,
                videos=videos,
                videos_per_s=float(np.median(rates[1:] or rates)),
                first_batch_s=first_batch_s,
                peak_rss_mb=rss,
            )
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--epochs", type=int, default=4, help="passes; the first is warm-up"
    )
    parser.add_argument(
        "--readers",
        default="starter,keras_gmsa,keras_gmsa_skip,keras_gmsa_train,"
        "keras_gmsa_train_any_order,grain_0w,grain_2w,torch_0w,torch_2w",
        help="comma-separated readers to measure on all cores",
    )
    parser.add_argument(
        "--cores",
        default="",
        help="e.g. 1,2: also tf.data and the loaders pinned to that many "
        "cores (1 core: parsing in the iterating process; 2: two workers)",
    )
    parser.add_argument("--layouts", default="frame,video")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--pin", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.pin:
            # Before TensorFlow (or anything) sizes a thread pool.
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.pin])
        _measure(*args.child, args.batch_size, args.epochs)
        return
    _write(args.videos)
    runs = [(r, 0) for r in args.readers.split(",") if r]
    for cores in [int(c) for c in args.cores.split(",") if c]:
        workers = "0w" if cores == 1 else f"{cores}w"
        runs += [
            (reader, cores)
            for reader in ("keras_gmsa", f"grain_{workers}", f"torch_{workers}")
        ]
    rows = []
    for layout in args.layouts.split(","):
        for reader, cores in runs:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    reader,
                    layout,
                    "--batch-size",
                    str(args.batch_size),
                    "--epochs",
                    str(args.epochs),
                    "--pin",
                    str(cores),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                # One failed reader does not lose the others' rows.
                print(f"{reader} {layout}: failed\n{out.stderr[-2000:]}")
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    # Ratios: against the starter reader on all cores, and against
    # tf.data (keras_gmsa) on the same cores.
    base = {
        r["layout"]: r["videos_per_s"] for r in rows if r["reader"] == "starter"
    }
    tf_data = {
        (r["layout"], r["cores"]): r["videos_per_s"]
        for r in rows
        if r["reader"] == "keras_gmsa"
    }
    print(
        f"\n{'layout':<7} {'reader':<26} {'cores':>5} {'batch':>5} "
        f"{'videos/s':>9} {'x starter':>9} {'x tf.data':>9} {'peak RSS MB':>11}"
    )
    for r in rows:
        starter = base.get(r["layout"])
        same = tf_data.get((r["layout"], r["cores"]))
        r["ratio_vs_starter"] = starter and r["videos_per_s"] / starter
        r["ratio_vs_tf_data"] = same and r["videos_per_s"] / same
        print(
            f"{r['layout']:<7} {r['reader']:<26} {r['cores']:>5} "
            f"{r['batch_size']:>5} {r['videos_per_s']:9.0f} "
            f"{r['ratio_vs_starter'] or float('nan'):9.2f} "
            f"{r['ratio_vs_tf_data'] or float('nan'):9.2f} "
            f"{r['peak_rss_mb']:11.0f}"
        )
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "input_pipeline.json"), "w") as f:
        json.dump(dict(cpu_count=os.cpu_count(), rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
