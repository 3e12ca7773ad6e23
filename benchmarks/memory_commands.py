"""Peak memory of `keras-gmsa train`, `evaluate` and `predict` at the
dataset's full shape, at two sizes of input.

    python benchmarks/memory_commands.py                  # 1000 and 4000
    python benchmarks/memory_commands.py --sizes 500 2000 --backend jax

Data: ``keras-gmsa synth DIR --full-shape --videos N --layouts frame``
for each size (300 frames of 1024 + 128 bytes per video, 3862 classes),
written once under ``benchmarks/.data/memory/``. Then, each command a
subprocess run as a user runs it, with the commands' default batch sizes
(``--backend``, default TensorFlow):

- ``train``: ``--model`` (the GMSA baseline) for ``--train-steps`` steps
  of ``--train-batch`` videos and one validation pass of
  ``--validation-steps`` batches over the smaller set;
- ``evaluate`` of the trained model over each set;
- ``predict --format kaggle`` and ``predict --format jsonl`` of each set to
  a file.

Each command's peak resident memory is its own (``os.wait4`` returns the
child's ``ru_maxrss``). From the two sizes, the growth per video and the
peak extrapolated to a million videos (a straight line through the two
points: what a command that keeps something per video would need). Both
sizes should be several of the commands' batches (256 videos): a set
smaller than one batch makes smaller batches, not fewer.

Prints a table and writes ``benchmarks/results/<name>.json`` and ``.md``
(``--name``, default ``memory_commands``).
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 4000])
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--validation-steps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="memory_commands")
    args = parser.parse_args()

    sizes = sorted(args.sizes)
    patterns = {n: _data(n, args.seed) for n in sizes}
    work = os.path.join(DATA, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run_dir = os.path.join(work, "run")
    rows = []

    def measure(command, videos, argv):
        rss, seconds = _run(argv, args.backend)
        row = dict(command=command, videos=videos, peak_rss_mb=rss)
        row["seconds"] = seconds
        rows.append(row)
        print(json.dumps(row), flush=True)

    for videos in sizes:
        measure(
            "train",
            videos,
            _cli(
                "train",
                "--run-dir",
                run_dir,
                "--overwrite",
                "--model",
                args.model,
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
    model = os.path.join(run_dir, "final.keras")
    for videos in sizes:
        pattern = patterns[videos]
        measure("evaluate", videos, _cli("evaluate", model, pattern, "--quiet"))
        for fmt in ("kaggle", "jsonl"):
            out = os.path.join(work, f"predictions-{videos}.{fmt}")
            measure(
                f"predict --format {fmt}",
                videos,
                _cli(
                    "predict",
                    model,
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
    small, large = sizes
    table = [
        f"| command | peak RSS MB, {small} videos | peak RSS MB, {large} "
        "videos | growth KB per video | extrapolated to 1,000,000 videos, "
        f"MB | seconds at {large} |",
        "|---|---|---|---|---|---|",
    ]
    summary = []
    for command in dict.fromkeys(r["command"] for r in rows):
        a, b = (
            next(
                r for r in rows if r["command"] == command and r["videos"] == n
            )
            for n in sizes
        )
        per_video_kb = (
            (b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 / (large - small)
        )
        million = a["peak_rss_mb"] + per_video_kb * (1e6 - small) / 1024
        summary.append(
            dict(
                command=command,
                growth_kb_per_video=per_video_kb,
                million_videos_mb=million,
            )
        )
        table.append(
            f"| {command} | {a['peak_rss_mb']:.0f} | {b['peak_rss_mb']:.0f} "
            f"| {per_video_kb:.2f} | {million:.0f} | {b['seconds']:.0f} |"
        )
    text = "\n".join(table)
    print("\n" + text)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{args.name}.json"), "w") as f:
        json.dump(
            dict(
                backend=args.backend,
                model=args.model,
                argv=sys.argv[1:],
                rows=rows,
                summary=summary,
            ),
            f,
            indent=1,
        )
    with open(os.path.join(RESULTS, f"{args.name}.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
