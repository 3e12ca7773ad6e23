"""bfloat16 mixed precision against float32 on the demo's synthetic data.

    python benchmarks/mixed_precision.py
    python benchmarks/mixed_precision.py --backend torch --epochs 6

Runs the demo (`keras_gmsa.demo.run`: baseline, ShareAtt, GateAtt, GateOp
on the same native-format synthetic shards, same seed, same budget) once
under ``float32`` and once under ``mixed_bfloat16`` (bfloat16 compute,
float32 weights; softmaxes, gates and outputs stay float32), each in a
fresh process, and compares test GAP / MAP / local-event GAP per model,
averaged over ``--seeds`` (each seed: its own initialisation and batch
order, same data). The target: |GAP(mixed_bfloat16) - GAP(float32)| <= 0.5
points, on the seed means; the float32 seed-to-seed range is printed next
to it, as the yardstick of what training noise alone moves.

bfloat16 pays on accelerators with bfloat16 units; on a CPU without them
it computes through conversions and is usually slower, so the seconds per
epoch are reported but are not the point here.

Prints a Markdown table and writes ``benchmarks/results/mixed_precision``
``.json`` and ``.md``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
POLICIES = ("float32", "mixed_bfloat16")
TARGET_POINTS = 0.5


def _child(policy, cache_dir, output_dir, epochs, seed, models):
    from keras_gmsa import demo

    rows = demo.run(
        cache_dir,
        output_dir=output_dir,
        epochs=epochs,
        seed=seed,
        verbose=0,
        dtype_policy=policy,
        models=models,
    )
    return [
        {
            "model": r["row"],
            **{
                k: r[k]
                for k in ("gap", "map", "local_gap", "seconds_per_epoch")
            },
        }
        for r in rows
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument(
        "--cache-dir",
        default=os.path.join(
            os.path.expanduser("~"), ".cache", "keras-gmsa", "demo"
        ),
    )
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        rows = _child(
            args.child,
            args.cache_dir,
            args.run_dir,
            args.epochs,
            args.seeds[0],
            args.models,
        )
        print(json.dumps(rows))
        return

    env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    results = {policy: {} for policy in POLICIES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for policy in POLICIES:
                command = [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--child",
                    policy,
                    "--run-dir",
                    os.path.join(tmp, f"{policy}-{seed}"),
                    "--epochs",
                    str(args.epochs),
                    "--seeds",
                    str(seed),
                    "--cache-dir",
                    args.cache_dir,
                ]
                if args.models:
                    command += ["--models", *args.models]
                done = subprocess.run(
                    command, env=env, capture_output=True, text=True
                )
                if done.returncode:
                    raise SystemExit(
                        f"{policy} seed {seed} failed:\n"
                        f"{done.stderr.strip()[-2000:]}"
                    )
                rows = json.loads(done.stdout.strip().splitlines()[-1])
                results[policy][seed] = rows
                print(f"{policy} seed {seed}: {rows}", flush=True)

    def mean(policy, index, key):
        return sum(
            results[policy][seed][index][key] for seed in args.seeds
        ) / len(args.seeds)

    lines = [
        "| model | GAP float32 | GAP mixed_bfloat16 | difference (points) "
        "| float32 seed range (points) | MAP float32 | MAP bf16 "
        "| local GAP float32 | local GAP bf16 | s/epoch float32 "
        "| s/epoch bf16 | within 0.5 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    first = results["float32"][args.seeds[0]]
    for index, model in enumerate(r["model"] for r in first):
        full = {
            k: mean("float32", index, k) for k in first[index] if k != "model"
        }
        half = {
            k: mean("mixed_bfloat16", index, k)
            for k in first[index]
            if k != "model"
        }
        gaps = [results["float32"][s][index]["gap"] for s in args.seeds]
        spread = 100 * (max(gaps) - min(gaps))
        diff = 100 * (half["gap"] - full["gap"])
        row = dict(
            model=model,
            float32=full,
            mixed_bfloat16=half,
            per_seed={
                p: {s: results[p][s][index] for s in args.seeds}
                for p in POLICIES
            },
            gap_difference_points=diff,
            float32_seed_range_points=spread,
            within_target=abs(diff) <= TARGET_POINTS,
        )
        rows.append(row)
        lines.append(
            f"| {model} | {100 * full['gap']:.2f} "
            f"| {100 * half['gap']:.2f} | {diff:+.2f} | {spread:.2f} "
            f"| {100 * full['map']:.2f} | {100 * half['map']:.2f} "
            f"| {100 * full['local_gap']:.2f} | {100 * half['local_gap']:.2f} "
            f"| {full['seconds_per_epoch']:.1f} "
            f"| {half['seconds_per_epoch']:.1f} "
            f"| {'yes' if row['within_target'] else 'NO'} |"
        )
    table = "\n".join(lines)
    print()
    print(table)
    command = " ".join(["python benchmarks/mixed_precision.py", *sys.argv[1:]])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "mixed_precision.json"), "w") as f:
        json.dump(
            dict(
                command=command,
                backend=args.backend,
                epochs=args.epochs,
                seeds=args.seeds,
                target_points=TARGET_POINTS,
                rows=rows,
            ),
            f,
            indent=1,
        )
    with open(os.path.join(args.out, "mixed_precision.md"), "w") as f:
        f.write(f"`{command}` (backend {args.backend})\n\n{table}\n")


if __name__ == "__main__":
    main()
