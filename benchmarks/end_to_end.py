"""The record reader feeding `model.fit` at the dataset's full shape.

    python benchmarks/end_to_end.py                      # every backend
    python benchmarks/end_to_end.py --backends jax --rounds 2 --name e2e_jax

Data: ``keras-gmsa synth DIR --full-shape --videos N --layouts frame``
(every video 300 frames of 1024 + 128 bytes, 3862 classes, about 3
labels, 1,000 videos per shard), written once under
``benchmarks/.data/end_to_end/`` and timed (wall and CPU seconds).

Then, each in a fresh process:

- **Reader alone**, pinned to 1 and to 2 cores (``sched_setaffinity``, as
  ``taskset`` does): `frame_dataset` read as ``keras-gmsa train`` reads
  (shuffled through train's ``shuffle_buffer`` in its seeded,
  deterministic order, repeated, whole batches of ``--reader-batch``),
  handed out as NumPy (what Keras gives the JAX and PyTorch steps).
  Reports videos/s and CPU seconds per video (all of the process's
  threads; the machine is shared, so CPU time is the steadier figure).
  On 1 core, the same for the stages alone: framing the records
  (``TFRecordDataset``), + shuffling, + batch parsing (the whole reader,
  TensorFlow tensors), + NumPy.
- **fit from records vs fit from memory**, per backend: one model (the
  GMSA baseline by default) at the full shape; ``--rounds`` rounds of one
  ``model.fit`` of ``--steps`` steps on the records (read as train reads)
  and one on the same videos held in NumPy arrays (`fit(x, y)`), the
  order alternating by round. A callback times each step (end to end,
  data included), in wall time and in the process's CPU time; the first
  step of each fit (a new iterator, train's shuffle buffer filling: once
  per run in `train`) is left out. The ratio is the in-memory median step
  time over the from-records one (1.00: the reader costs the step
  nothing; the issue's goal is >= 0.95); the CPU ratio the same of CPU
  seconds per step (on a shared machine the wall times carry the other
  tenants' load; the CPU time is what the reader adds to the step).
- **Cores per H200**, estimated: the train FLOPs per video of each GMSA
  model (XLA's count, from ``benchmarks/results/models.json``, written by
  `benchmarks/models.py`) and an assumed attained bfloat16 rate of an H200
  give the GPU's videos/s; divided by the reader's videos per CPU-second
  on 1 core, the cores that keep it fed (``--h200-tflops``,
  ``--mfu``).

Prints the tables and writes ``benchmarks/results/<name>.json`` and
``.md`` (``--name``, default ``end_to_end``).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from _child import spawn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
DATA = os.path.join(HERE, ".data", "end_to_end")
BACKENDS = ("jax", "tensorflow", "torch")
# An H200's dense bfloat16 tensor-core peak (the H100 SXM's: same chip
# generation and clocks; the H200 differs in memory), TFLOP/s.
H200_BF16_TFLOPS = 989.0
GMSA_MODELS = ("baseline", "shareatt-tp", "gateatt-tp", "gateop-tp")


def write_data(videos, seed=0):
    """Writes the full-shape set once; returns ``(pattern, timing)``."""
    stamp = os.path.join(DATA, "stamp.json")
    wanted = {"videos": videos, "seed": seed, "version": 1}
    pattern = os.path.join(DATA, "frame", "train*.tfrecord")
    if os.path.exists(stamp):
        with open(stamp) as f:
            done = json.load(f)
        if done["wanted"] == wanted:
            return pattern, done["timing"]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_gmsa.cli",
            "synth",
            DATA,
            "--full-shape",
            "--videos",
            str(videos),
            "--layouts",
            "frame",
            "--seed",
            str(seed),
        ],
        check=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        stdout=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = sorted(os.listdir(os.path.join(DATA, "frame")))
    size = sum(os.path.getsize(os.path.join(DATA, "frame", f)) for f in files)
    timing = dict(
        videos=videos,
        shards=len(files),
        wall_s=time.perf_counter() - start,
        cpu_s=(after.ru_utime + after.ru_stime)
        - (before.ru_utime + before.ru_stime),
        bytes_per_video=size / videos,
    )
    with open(stamp, "w") as f:
        json.dump({"wanted": wanted, "timing": timing}, f)
    return pattern, timing


def _pin(cores):
    """Pins this process (and the threads it starts) to `cores` CPUs."""
    available = sorted(os.sched_getaffinity(0))
    if cores > len(available):
        raise SystemExit(f"asked for {cores} cores, have {len(available)}")
    os.sched_setaffinity(0, set(available[:cores]))


def _rate(iterator, batch, batches, warmup):
    """videos/s and CPU s/video of `batches` elements after `warmup`."""
    for _ in range(warmup):
        next(iterator)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    videos = batch * batches
    return dict(videos_per_s=videos / wall, cpu_s_per_video=cpu / videos)


def _train_reader(pattern, batch, seed=0):
    """`frame_dataset` as `keras-gmsa train` reads its training set."""
    from keras_gmsa import data
    from keras_gmsa import training

    return data.frame_dataset(
        pattern,
        batch_size=batch,
        shuffle=True,
        shuffle_buffer=training.DEFAULTS["shuffle_buffer"],
        deterministic=True,
        seed=seed,
        repeat=True,
        drop_remainder=True,
    )


def _child_reader(pattern, cores, batch, batches, stages):
    """The reader's rate pinned to `cores` CPUs (and, with `stages`, the
    rate of each stage alone)."""
    _pin(cores)
    import tensorflow as tf

    from keras_gmsa import training

    buffer = training.DEFAULTS["shuffle_buffer"]
    # The shuffle buffer fills before the first batch: skip past it.
    warmup = buffer // batch + 4
    rows = {}
    if stages:
        files = tf.io.gfile.glob(pattern)

        def framed():
            return tf.data.TFRecordDataset(files, num_parallel_reads=8)

        parts = {
            "records": framed().repeat().batch(batch),
            "records, shuffled": framed()
            .repeat()
            .shuffle(buffer, seed=0)
            .batch(batch),
            "+ batch parsing (the reader, tensors)": _train_reader(
                pattern, batch
            ),
        }
        for name, dataset in parts.items():
            rows[name] = _rate(iter(dataset), batch, batches, warmup)
    rows["the reader, as NumPy (train's)"] = _rate(
        _train_reader(pattern, batch).as_numpy_iterator(),
        batch,
        batches,
        warmup,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(cores=cores, batch=batch, stages=rows, peak_rss_mb=peak)


class _StepTimes:
    """A Keras callback that times each train step, data included."""

    def __new__(cls):
        import keras

        class StepTimes(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times, self.cpu_times = [], []
                self._last = time.perf_counter(), time.process_time()

            def on_train_batch_end(self, batch, logs=None):
                float(logs["loss"])  # wait for the step (asynchronous)
                now = time.perf_counter(), time.process_time()
                self.times.append(now[0] - self._last[0])
                self.cpu_times.append(now[1] - self._last[1])
                self._last = now

        return StepTimes()


def _child_fit(pattern, model_key, batch, steps, rounds):
    """fit from records vs fit from NumPy arrays, in one process."""
    import keras
    import numpy as np
    from models import MODELS

    import keras_gmsa
    from keras_gmsa import data
    from keras_gmsa import training

    name, options = MODELS[model_key]
    model = keras_gmsa.build_model(name, **options)
    records = data.dataset_for_model(
        model,
        pattern,
        batch_size=batch,
        shuffle=True,
        shuffle_buffer=training.DEFAULTS["shuffle_buffer"],
        deterministic=True,
        seed=0,
        repeat=True,
        drop_remainder=True,
    )
    # The same kind of videos in memory: `steps` batches read in order.
    parts = list(
        data.dataset_for_model(model, pattern, batch_size=batch)
        .take(steps)
        .as_numpy_iterator()
    )
    x = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    y = np.concatenate([p[1] for p in parts])

    def fit(source, count):
        timer = _StepTimes()
        if source == "records":
            model.fit(
                records,
                steps_per_epoch=count,
                epochs=1,
                verbose=0,
                callbacks=[timer],
            )
        else:
            model.fit(
                {k: v[: count * batch] for k, v in x.items()},
                y[: count * batch],
                batch_size=batch,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[timer],
            )
        return timer.times[1:], timer.cpu_times[1:]

    fit("memory", 2)  # compile, warm up
    fit("records", 2)
    times = {"memory": [], "records": []}
    cpu = {"memory": [], "records": []}
    ratios = []
    for r in range(rounds):
        order = ("memory", "records") if r % 2 == 0 else ("records", "memory")
        medians = {}
        for source in order:
            t, c = fit(source, steps)
            times[source] += t
            cpu[source] += c
            medians[source] = statistics.median(t)
        ratios.append(medians["memory"] / medians["records"])
    memory = statistics.median(times["memory"])
    from_records = statistics.median(times["records"])
    cpu_memory = statistics.median(cpu["memory"])
    cpu_records = statistics.median(cpu["records"])
    return dict(
        backend=keras.backend.backend(),
        model=model_key,
        batch=batch,
        steps=steps,
        rounds=rounds,
        memory_step_s=memory,
        records_step_s=from_records,
        memory_videos_per_s=batch / memory,
        records_videos_per_s=batch / from_records,
        ratio=memory / from_records,
        round_ratios=ratios,
        cpu_ratio=cpu_memory / cpu_records,
        memory_step_cpu_s=cpu_memory,
        records_step_cpu_s=cpu_records,
        step_times_s=times,
        step_cpu_times_s=cpu,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def _flops():
    """``{model: train GFLOP/video}`` from benchmarks/results/models.json."""
    path = os.path.join(RESULTS, "models.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        saved = json.load(f)
    rows = saved["rows"] if isinstance(saved, dict) else saved
    out = {}
    for row in rows:
        if row.get("train_gflop_per_video") and row["model"] in GMSA_MODELS:
            out[row["model"]] = row["train_gflop_per_video"]
    return out


def _estimate(flops, reader, tflops, mfus, bytes_per_video):
    """Cores to feed one H200, per model and attained fraction of peak."""
    one = reader["1"]["stages"]["the reader, as NumPy (train's)"]
    per_core = 1.0 / one["cpu_s_per_video"]  # videos per CPU-second
    rows = []
    for model, gflop in flops.items():
        for mfu in mfus:
            gpu = tflops * 1e12 * mfu / (gflop * 1e9)
            rows.append(
                dict(
                    model=model,
                    train_gflop_per_video=gflop,
                    mfu=mfu,
                    gpu_videos_per_s=gpu,
                    reader_videos_per_cpu_s=per_core,
                    cores=gpu / per_core,
                    records_gb_per_s=gpu * bytes_per_video / 1e9,
                )
            )
    return rows


def _tables(result):
    lines = []
    t = result["synth"]
    lines += [
        "| synth videos | shards | MB per video | wall s | CPU s "
        "| CPU ms per video |",
        "|---|---|---|---|---|---|",
        f"| {t['videos']} | {t['shards']} | {t['bytes_per_video'] / 1e6:.3f} "
        f"| {t['wall_s']:.1f} | {t['cpu_s']:.1f} "
        f"| {1000 * t['cpu_s'] / t['videos']:.1f} |",
        "",
        "| stage | cores | batch | videos/s | CPU ms per video "
        "| MB/s of records | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for cores, r in sorted(result["reader"].items()):
        if "error" in r:
            lines.append(f"| error: {r['error']} | {cores} |" + " |" * 5)
            continue
        for stage, s in r["stages"].items():
            mb = s["videos_per_s"] * t["bytes_per_video"] / 1e6
            lines.append(
                f"| {stage} | {cores} | {r['batch']} "
                f"| {s['videos_per_s']:.0f} "
                f"| {1000 * s['cpu_s_per_video']:.3f} | {mb:.0f} "
                f"| {r['peak_rss_mb']:.0f} |"
            )
    lines += [
        "",
        "| backend | model | batch | from memory videos/s "
        "| from records videos/s | ratio (memory step / records step) "
        "| per-round ratios | CPU s per step, memory / records "
        "| CPU ratio | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["fit"]:
        if "error" in r:
            lines.append(
                f"| {r['backend']} | {r['model']} | error: {r['error']} |"
                + " |" * 7
            )
            continue
        rounds = ", ".join(f"{v:.3f}" for v in r["round_ratios"])
        lines.append(
            f"| {r['backend']} | {r['model']} | {r['batch']} "
            f"| {r['memory_videos_per_s']:.2f} "
            f"| {r['records_videos_per_s']:.2f} | {r['ratio']:.3f} "
            f"| {rounds} | {r['memory_step_cpu_s']:.2f} / "
            f"{r['records_step_cpu_s']:.2f} | {r['cpu_ratio']:.3f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    if result["h200"]:
        lines += [
            "",
            "| model | train GFLOP/video | attained fraction of "
            f"{result['h200_tflops']:.0f} TFLOP/s | H200 videos/s "
            "| reader videos per CPU-second | cores to feed it "
            "| records GB/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["h200"]:
            lines.append(
                f"| {r['model']} | {r['train_gflop_per_video']:.2f} "
                f"| {r['mfu']:.2f} | {r['gpu_videos_per_s']:.0f} "
                f"| {r['reader_videos_per_cpu_s']:.0f} | {r['cores']:.1f} "
                f"| {r['records_gb_per_s']:.1f} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--reader-batch", type=int, default=64)
    parser.add_argument("--reader-batches", type=int, default=40)
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--h200-tflops", type=float, default=H200_BF16_TFLOPS)
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--name", default="end_to_end")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, pattern, *rest = args.child
        if kind == "reader":
            cores, stages = int(rest[0]), rest[1] == "stages"
            out = _child_reader(
                pattern, cores, args.reader_batch, args.reader_batches, stages
            )
        else:
            out = _child_fit(
                pattern, rest[0], args.batch_size, args.steps, args.rounds
            )
        print(json.dumps(out))
        return

    pattern, synth = write_data(args.videos)
    print(f"synth: {synth}", flush=True)
    common = [
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--rounds",
        str(args.rounds),
        "--reader-batch",
        str(args.reader_batch),
        "--reader-batches",
        str(args.reader_batches),
    ]
    reader = {}
    for cores in args.cores:
        stages = "stages" if cores == 1 else "whole"
        reader[str(cores)] = spawn(
            __file__,
            "tensorflow",
            ["reader", pattern, str(cores), stages, *common],
        )
        print(f"reader on {cores} core(s): {reader[str(cores)]}", flush=True)
    fit = []
    for backend in args.backends:
        row = spawn(__file__, backend, ["fit", pattern, args.model, *common])
        row.setdefault("backend", backend)
        row.setdefault("model", args.model)
        fit.append(row)
        print(f"fit on {backend}: {row.get('ratio', row)}", flush=True)
    h200 = []
    if "1" in reader and "error" not in reader["1"]:
        h200 = _estimate(
            _flops(),
            reader,
            args.h200_tflops,
            args.mfu,
            synth["bytes_per_video"],
        )
    result = dict(
        machine=dict(
            cpu_count=os.cpu_count(),
            processor=platform.processor() or platform.machine(),
        ),
        synth=synth,
        reader=reader,
        fit=fit,
        h200_tflops=args.h200_tflops,
        h200=h200,
        argv=sys.argv[1:],
    )
    table = _tables(result)
    print("\n" + table)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{args.name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(RESULTS, f"{args.name}.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
