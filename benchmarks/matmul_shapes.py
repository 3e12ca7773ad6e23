"""The GMSA models' matrix products, timed alone on each backend.

    python benchmarks/matmul_shapes.py

The profile behind ``benchmarks/models.py``: most of a GMSA train step is
a few float32 products, and a backend whose own kernels run them slower
cannot train the model faster. For each backend a fresh process times, jit
compiled where the backend compiles (``tf.function``, ``jax.jit``; PyTorch
eager), the median of ``--repeats`` calls of:

- ``2048^3``: the peak the issue measures against;
- ``proj``: ``(B T, 1024) x (1024, 1024)``, the rgb query/key/value/output
  and feed-forward projections at batch 16, T = 300;
- ``scores``: ``(B H, 300, 128) x (B H, 128, 300)``, per-head ``Q K^T``;
- ``gate``: ``(B H T, 300) x (300, 300)``, GateAtt's ``A W_g``.

Prints a Markdown table of GFLOP/s and writes
``benchmarks/results/matmul_shapes.json`` and ``.md``.
"""

import argparse
import json
import os
import subprocess
import sys

from _child import median_seconds

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
BACKENDS = ("tensorflow", "jax", "torch")
BATCH, FRAMES, HEADS = 16, 300, 8
# name -> (batch dims, m, k, n)
SHAPES = {
    "2048^3": ((), 2048, 2048, 2048),
    "proj": ((), BATCH * FRAMES, 1024, 1024),
    "scores": ((BATCH * HEADS,), FRAMES, 128, FRAMES),
    "gate": ((), BATCH * HEADS * FRAMES, FRAMES, FRAMES),
}


def _child(backend, repeats):
    import numpy as np

    rng = np.random.default_rng(0)
    result = {}
    for name, (batch, m, k, n) in SHAPES.items():
        a = rng.random(batch + (m, k), dtype="float32")
        b = rng.random(batch + (k, n), dtype="float32")
        if backend == "tensorflow":
            import tensorflow as tf

            ta, tb = tf.constant(a), tf.constant(b)
            fn = tf.function(tf.matmul)

            def run(fn=fn, ta=ta, tb=tb):
                return fn(ta, tb).numpy()

        elif backend == "jax":
            import jax

            ja, jb = jax.numpy.asarray(a), jax.numpy.asarray(b)
            fn = jax.jit(lambda x, y: x @ y)

            def run(fn=fn, ja=ja, jb=jb):
                return fn(ja, jb).block_until_ready()

        else:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)

            def run(ta=ta, tb=tb):
                return torch.matmul(ta, tb)

        flops = 2 * m * k * n * int(np.prod(batch, dtype="int64"))
        result[name] = flops / median_seconds(run, repeats) / 1e9
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.repeats)))
        return
    rows = {}
    for backend in args.backends:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                backend,
                "--repeats",
                str(args.repeats),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        rows[backend] = json.loads(done.stdout.strip().splitlines()[-1])
        print(backend, rows[backend], flush=True)
    lines = [
        "| shape | " + " | ".join(args.backends) + " | slowest / fastest |",
        "|---|" + "---|" * (len(args.backends) + 1),
    ]
    for name in SHAPES:
        values = [rows[b][name] for b in args.backends]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{v:.0f}" for v in values)
            + f" | {max(values) / min(values):.2f} |"
        )
    table = "GFLOP/s, float32\n\n" + "\n".join(lines)
    print()
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "matmul_shapes.json"), "w") as f:
        json.dump(dict(shapes=SHAPES, gflops=rows), f, indent=1)
    with open(os.path.join(args.out, "matmul_shapes.md"), "w") as f:
        f.write("`python benchmarks/matmul_shapes.py`\n\n" + table + "\n")


if __name__ == "__main__":
    main()
