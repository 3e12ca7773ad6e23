"""What eager PyTorch pays per pass over a T x T attention map, and the
floor it puts under GateAtt's training step on a CPU.

    python benchmarks/map_passes.py
    python benchmarks/map_passes.py --batch 16 --frames 300 --repeats 50

GateAtt's output needs its maps: per head, two masked softmaxes, the gate's
sigmoid and the mix in the forward pass, and their gradients in the
backward pass, each an elementwise pass over a ``(B, 1, T, T)`` float32
slice that eager PyTorch runs as its own kernel (a compiler would fuse
them). This script times each kind of pass the written-out gradient
(`keras_gmsa/layers/attention/_lean.py`) makes, on this machine, with the
same threads PyTorch uses in training, then counts the passes of the
leanest written-out step we know of (the gate-logit differences folded into
the matrix products, the maps kept from the forward pass instead of
recomputed) and prints the elementwise time per training step that no
eager implementation can go below:

    floor = passes per head x heads x attention layers x seconds per pass

Compared with the step time of the plain-Keras reference
(`benchmarks/models.py`, same machine, measured in the same run when
``--reference-step`` is not given), the floor says how much of the
issue's budget (arithmetic / 0.95 x the reference) is left for the
matrix products, which run at the reference's rate. Writes
``benchmarks/results/<name>.json`` and ``.md`` (``--name``, default
``map_passes``).
"""

import argparse
import json
import os
import statistics
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# The passes per head of the leanest written-out GateAtt step:
# forward: key bias + softmax (global), local bias + softmax (local),
# sigmoid of the gate logits (their difference folded into the second
# matrix product), the mix; backward (maps kept from the forward pass):
# A^g - A^l, dA R^g, dA - dA R^g, the gate-logit gradient (two products),
# the two softmax gradients and their sum.
FORWARD = ("add", "softmax", "add", "softmax", "sigmoid", "lerp")
BACKWARD = (
    "sub",
    "mul",
    "sub",
    "mul",
    "mul",
    "softmax_backward",
    "softmax_backward",
    "add",
)


def _passes(shape):
    a = torch.rand(shape)
    b = torch.rand(shape)
    c = torch.rand(shape)
    bias = torch.zeros((shape[0], 1, 1, shape[-1]))
    soft = torch.softmax(a, -1)
    return {
        "add": lambda: a + bias,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "sigmoid": lambda: torch.sigmoid(a),
        "lerp": lambda: torch.lerp(a, b, c),
        "softmax": lambda: torch.softmax(a, -1),
        "softmax_backward": lambda: torch._softmax_backward_data(
            b, soft, -1, soft.dtype
        ),
    }


def _time(fn, repeats):
    for _ in range(3):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument(
        "--layers", type=int, default=2, help="attention layers (rgb, audio)"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--reference-step",
        type=float,
        help="seconds of the reference's train step (benchmarks/models.py)",
    )
    parser.add_argument("--arithmetic", type=float, default=16.21 / 10.98)
    parser.add_argument("--name", default="map_passes")
    args = parser.parse_args()
    shape = (args.batch, 1, args.frames, args.frames)
    passes = _passes(shape)
    timed = {name: _time(fn, args.repeats) for name, fn in passes.items()}
    mb = 4 * args.batch * args.frames * args.frames / 1e6
    lines = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"one head's map {shape} float32 = {mb:.1f} MB",
        "",
        "| pass | wall ms | CPU ms | GB/s (read + write, wall) |",
        "|---|---|---|---|",
    ]
    for name, (wall, cpu) in timed.items():
        operands = {"lerp": 4, "add": 2, "sigmoid": 2, "softmax": 2}.get(
            name, 3
        )
        lines.append(
            f"| {name} | {1e3 * wall:.2f} | {1e3 * cpu:.2f} | "
            f"{operands * mb / 1e3 / wall:.1f} |"
        )
    per_head = sum(timed[p][0] for p in FORWARD + BACKWARD)
    floor = per_head * args.heads * args.layers
    result = {
        "shape": shape,
        "threads": torch.get_num_threads(),
        "passes": {k: {"wall_s": w, "cpu_s": c} for k, (w, c) in timed.items()},
        "passes_per_head": len(FORWARD + BACKWARD),
        "floor_s_per_step": floor,
    }
    lines += [
        "",
        f"Leanest written-out step: {len(FORWARD)} forward + "
        f"{len(BACKWARD)} backward passes per head = "
        f"{1e3 * per_head:.1f} ms; x {args.heads} heads x {args.layers} "
        f"layers = **{1e3 * floor:.0f} ms of elementwise work per step**.",
    ]
    if args.reference_step:
        budget = (args.arithmetic / 0.95 - args.arithmetic) * args.reference_step
        result.update(reference_step_s=args.reference_step, budget_s=budget)
        lines.append(
            f"Reference step {args.reference_step:.3f} s: the target leaves "
            f"(arithmetic / 0.95 - arithmetic) x reference = "
            f"{1e3 * budget:.0f} ms for everything beyond the matrix "
            f"products; the floor is {floor / budget:.1f}x that."
        )
    print("\n".join(lines))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{args.name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(RESULTS, f"{args.name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
