"""How long a pass of the PyTorch loader with worker processes waits for
its workers, pass after pass, as `fit` iterates it every epoch.

    KERAS_BACKEND=torch python benchmarks/worker_start.py
    KERAS_BACKEND=torch python benchmarks/worker_start.py --workers 4

Writes ``--videos`` full-shape frame-level records (300 frames of 1024 +
128 bytes, as `benchmarks/loaders_fit.py` writes them), then, in two fresh
processes, reads them ``--passes`` times with
``loaders.frame_loader(framework="torch", num_workers=--workers)``:

- ``preloaded``: as the loader starts its workers (they fork from a
  forkserver that has imported the reader, and so Keras and the backend);
- ``bare``: the process's forkserver is started before the first loader,
  bare (as other code could have started it), so each worker imports
  keras_gmsa, Keras and the backend itself: what every pass paid before
  the loader preloaded its server.

Each row is one pass: the seconds to its first batch (worker start
included) and to its end. Prints a table and writes
``benchmarks/results/<--name>.json``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def passes(pattern, workers, count, bare):
    import multiprocessing

    from keras_gmsa import loaders

    if bare:
        # Starts the process's forkserver with its default (bare) preload.
        context = multiprocessing.get_context("forkserver")
        first = context.Process(target=len, args=((),))
        first.start()
        first.join()
    rows = []
    for n in range(count):
        start = time.perf_counter()
        loader = loaders.frame_loader(
            pattern,
            framework="torch",
            num_workers=workers,
            features={"rgb": 1024, "audio": 128},
            num_classes=3862,
            max_frames=300,
            batch_size=16,
        )
        first = None
        batches = 0
        for _ in loader:
            if first is None:
                first = time.perf_counter() - start
            batches += 1
        rows.append(
            dict(
                pass_=n,
                first_batch_s=round(first, 3),
                pass_s=round(time.perf_counter() - start, 3),
                batches=batches,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--name", default="worker_start")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pattern, mode = args.child.split("|")
        rows = passes(pattern, args.workers, args.passes, mode == "bare")
        print(json.dumps(rows))
        return
    from loaders_fit import write_records

    directory = tempfile.mkdtemp(prefix="worker_start_")
    results = {}
    try:
        write_records(directory, args.videos, max(1, args.videos // 4))
        pattern = os.path.join(directory, "train*.tfrecord")
        for mode in ("bare", "preloaded"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", f"{pattern}|{mode}"]
                + ["--workers", str(args.workers)]
                + ["--passes", str(args.passes)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"{'mode':10} {'pass':>4} {'first batch s':>14} {'pass s':>8}")
    for mode, rows in results.items():
        for row in rows:
            print(
                f"{mode:10} {row['pass_']:>4} {row['first_batch_s']:>14.2f} "
                f"{row['pass_s']:>8.2f}"
            )
    later = (
        [
            sum(r["first_batch_s"] for r in results[m][1:]) / (args.passes - 1)
            for m in ("bare", "preloaded")
        ]
        if args.passes > 1
        else None
    )
    if later:
        print(
            f"passes after the first: bare / preloaded first-batch time = "
            f"{later[0] / later[1]:.1f}"
        )
    record = dict(
        backend=os.environ.get("KERAS_BACKEND"),
        videos=args.videos,
        workers=args.workers,
        cpus=os.cpu_count(),
        results=results,
        ratio_after_first=None if not later else later[0] / later[1],
    )
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{args.name}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
