"""Peak memory of `keras-gmsa train`, `evaluate` and `predict` at the
dataset's full shape, and how it grows with the number of videos.

    python benchmarks/memory_commands.py
    python benchmarks/memory_commands.py --backend jax --copies 4

Data: ``keras-gmsa synth DIR --full-shape --videos N --layouts frame``
for each of ``--sizes`` (300 frames of 1024 + 128 bytes per video, 3862
classes), written once under ``benchmarks/.data/memory/``, and a set of
``--copies`` links to each shard of the largest (the same records read
``--copies`` times: a larger set at no cost in disk). Each command is a
subprocess run as a user runs it, with the commands' default batch sizes
(``--backend``, default TensorFlow), and its peak resident memory is its
own (``os.wait4`` returns the child's ``ru_maxrss``):

- **peak**: ``train`` of ``--model`` (the GMSA baseline) for
  ``--train-steps`` steps of ``--train-batch`` videos and one validation
  pass of ``--validation-steps`` batches (train's default validation
  batch, 256); then ``evaluate``, ``predict --format kaggle`` and
  ``predict --format jsonl`` of the model it saved, over the smallest set.
  The model's activations at batch 256 set these peaks.
- **growth**: the same commands with ``--growth-model`` (the starter's
  frame-level logistic regression: it reads the full-shape frames and
  costs almost nothing itself, so the commands' own memory shows) at each
  size, the largest being the linked set; the change of the peak from the
  second-largest size to the largest.

Prints the tables and writes ``benchmarks/results/<name>.json`` and
``.md`` (``--name``, default ``memory_commands``).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
DATA = os.path.join(HERE, ".data", "memory")


def _cli(*argv):
    return [sys.executable, "-m", "keras_gmsa.cli", *map(str, argv)]


def _run(argv, backend):
    """Runs a command; returns ``(peak RSS MB, seconds)`` of that child."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # wait4 reaps this child and returns its own resource usage.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode().strip()
    child.stderr.close()
    if child.returncode:
        raise RuntimeError(f"{argv[3:5]} failed: {error[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def _data(videos, seed):
    """The full-shape set of `videos` videos; returns its pattern."""
    directory = os.path.join(DATA, str(videos))
    stamp = os.path.join(directory, "stamp.json")
    wanted = {"videos": videos, "seed": seed}
    if not os.path.exists(stamp) or json.load(open(stamp)) != wanted:
        shutil.rmtree(directory, ignore_errors=True)
        argv = _cli("synth", directory, "--full-shape", "--videos", videos)
        argv += ["--layouts", "frame", "--split", "test", "--seed", str(seed)]
        subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        with open(stamp, "w") as f:
            json.dump(wanted, f)
    return os.path.join(directory, "frame", "test*.tfrecord")


def _linked(pattern, copies):
    """A set of `copies` links to each file of `pattern`."""
    import glob

    directory = os.path.join(DATA, f"linked{copies}")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for path in sorted(glob.glob(pattern)):
        name = os.path.basename(path).replace(".tfrecord", "")
        for c in range(copies):
            os.symlink(path, os.path.join(directory, f"{name}-{c}.tfrecord"))
    return os.path.join(directory, "*.tfrecord")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--growth-model", default="frame_logistic")
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--validation-steps", type=int, default=2)
    parser.add_argument("--phases", nargs="+", default=["peak", "growth"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="memory_commands")
    args = parser.parse_args()

    sizes = sorted(args.sizes)
    patterns = {n: _data(n, args.seed) for n in sizes}
    if args.copies > 1:
        patterns[sizes[-1] * args.copies] = _linked(
            patterns[sizes[-1]], args.copies
        )
    work = os.path.join(DATA, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rows = []

    def measure(phase, command, model, videos, argv):
        rss, seconds = _run(argv, args.backend)
        row = dict(phase=phase, command=command, model=model, videos=videos)
        row.update(peak_rss_mb=rss, seconds=seconds)
        rows.append(row)
        print(json.dumps(row), flush=True)

    def commands(phase, model, videos):
        run_dir = os.path.join(work, f"{phase}-run")
        measure(
            phase,
            "train",
            model,
            videos,
            _cli(
                "train",
                "--run-dir",
                run_dir,
                "--overwrite",
                "--model",
                model,
                "--train",
                patterns[videos],
                "--validation",
                patterns[sizes[0]],
                "--batch-size",
                args.train_batch,
                "--steps-per-validation",
                args.train_steps,
                "--max-validations",
                1,
                "--validation-steps",
                args.validation_steps,
                "--no-tensorboard",
                "--verbose",
                0,
            ),
        )
        saved = os.path.join(run_dir, "final.keras")
        pattern = patterns[videos]
        measure(
            phase,
            "evaluate",
            model,
            videos,
            _cli("evaluate", saved, pattern, "--quiet"),
        )
        for fmt in ("kaggle", "jsonl"):
            out = os.path.join(work, f"predictions-{phase}-{videos}.{fmt}")
            measure(
                phase,
                f"predict --format {fmt}",
                model,
                videos,
                _cli(
                    "predict",
                    saved,
                    pattern,
                    "--format",
                    fmt,
                    "--output",
                    out,
                    "--quiet",
                ),
            )
            with open(out) as f:
                lines = sum(1 for _ in f)
            assert lines == videos + (fmt == "kaggle"), (out, lines)
            os.remove(out)

    if "peak" in args.phases:
        commands("peak", args.model, sizes[0])
    if "growth" in args.phases:
        for videos in sorted(patterns):
            commands("growth", args.growth_model, videos)
    text = _tables(rows)
    print("\n" + text)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{args.name}.json"), "w") as f:
        json.dump(
            dict(backend=args.backend, argv=sys.argv[1:], rows=rows),
            f,
            indent=1,
        )
    with open(os.path.join(RESULTS, f"{args.name}.md"), "w") as f:
        f.write(text + "\n")


def _tables(rows):
    lines = [
        "| command | model | videos | peak RSS MB | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["phase"] == "peak":
            lines.append(
                f"| {r['command']} | {r['model']} | {r['videos']} "
                f"| {r['peak_rss_mb']:.0f} | {r['seconds']:.0f} |"
            )
    growth = [r for r in rows if r["phase"] == "growth"]
    sizes = sorted({r["videos"] for r in growth})
    if len(sizes) < 2:
        return "\n".join(lines)
    a, b = sizes[-2], sizes[-1]
    lines += [
        "",
        "| command | model | "
        + " | ".join(f"peak RSS MB, {n} videos" for n in sizes)
        + f" | change, {a} to {b} videos |",
        "|---|---|" + "---|" * len(sizes) + "---|",
    ]
    for command in dict.fromkeys(r["command"] for r in growth):
        peaks = {
            r["videos"]: r["peak_rss_mb"]
            for r in growth
            if r["command"] == command
        }
        model = next(r["model"] for r in growth if r["command"] == command)
        change = peaks[b] - peaks[a]
        lines.append(
            f"| {command} | {model} | "
            + " | ".join(f"{peaks[n]:.0f}" for n in sizes)
            + f" | {change:+.0f} MB ({100 * change / peaks[a]:+.0f}%) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
