"""The 2019 segment evaluator at the task's scale: time and peak memory.

python benchmarks/segment_evaluator.py                  # 1000 x 2,000,000
python benchmarks/segment_evaluator.py --segments 300000 --name small

Streams ``--segments`` segments of ``--classes`` float32 scores (batches
of ``--batch`` segments, as a model pass yields them) into
`keras_gmsa.metrics.SegmentEvaluator` with top_n 100,000, then ranks them
(`ranked`, the submission's lists) and scores them against ratings of
``--rated`` segments (`result`, the segment MAP). Scores are drawn per
batch; drawing them is not counted. Each size runs in a fresh process, so
its peak RSS is its own. Prints a table and writes
``benchmarks/results/<name>.json`` and ``.md``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def run_one(classes, segments, batch, rated, top_n):
    from keras_gmsa import metrics

    rng = np.random.default_rng(0)
    ids = [f"v{i // 60:07d}:{5 * (i % 60)}" for i in range(segments)]
    evaluator = metrics.SegmentEvaluator(classes, top_n=top_n)
    updating = 0.0
    for start in range(0, segments, batch):
        n = min(batch, segments - start)
        scores = rng.random((n, classes), dtype=np.float32)
        tick = time.perf_counter()
        evaluator.update(ids[start : start + n], scores)
        updating += time.perf_counter() - tick
    tick = time.perf_counter()
    ranked = evaluator.ranked()
    ranking = time.perf_counter() - tick
    assert all(len(v) == min(top_n, segments) for v in ranked.values())
    del ranked
    chosen = rng.choice(segments, rated, replace=False)
    ratings = {
        (ids[i], int(rng.integers(classes))): float(rng.random() < 0.3)
        for i in chosen
    }
    tick = time.perf_counter()
    value = evaluator.result(ratings)
    scoring = time.perf_counter() - tick
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return dict(
        classes=classes,
        segments=segments,
        batch=batch,
        top_n=top_n,
        rated=rated,
        update_s=round(updating, 1),
        ranked_s=round(ranking, 1),
        result_s=round(scoring, 1),
        total_s=round(updating + ranking + scoring, 1),
        # CPU time of the whole process (drawing the scores included):
        # what a busy machine does not inflate.
        cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
        peak_rss_gb=round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2
        ),
        segment_map=value,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument(
        "--segments", type=int, nargs="+", default=[300_000, 2_000_000]
    )
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--rated", type=int, default=250_000)
    parser.add_argument("--top-n", type=int, default=100_000)
    parser.add_argument("--name", default="segment_evaluator")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = run_one(
            args.classes,
            args.segments[0],
            args.batch,
            min(args.rated, args.segments[0]),
            args.top_n,
        )
        print(json.dumps(row))
        return
    rows = []
    for n in args.segments:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--segments", str(n)]
            + ["--classes", str(args.classes), "--batch", str(args.batch)]
            + ["--rated", str(args.rated), "--top-n", str(args.top_n)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ["classes", "segments", "update_s", "ranked_s", "result_s"]
    keys += ["total_s", "cpu_s", "peak_rss_gb"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    print("\n".join(lines))
    os.makedirs("benchmarks/results", exist_ok=True)
    with open(f"benchmarks/results/{args.name}.json", "w") as f:
        json.dump(rows, f, indent=1)
    with open(f"benchmarks/results/{args.name}.md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
