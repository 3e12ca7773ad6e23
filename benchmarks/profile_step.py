"""Where one training step's time goes: a profile by operation class.

    python benchmarks/profile_step.py --backend torch \\
        --models reference gateatt-tp
    python benchmarks/profile_step.py --backend jax --models reference

For each model, a fresh process builds it at the paper's input shape (T =
300 uint8 frames, 3862 classes; batch ``--batch``), runs ``--warmup``
train steps, then profiles ``--steps`` more: PyTorch with
`torch.profiler` (self CPU time per ATen operator), JAX with
`jax.profiler` (its Perfetto trace: time per XLA thunk). Operations are
grouped into classes: matrix products, softmax, elementwise, copies and
transposes, random numbers (dropout), the rest. Prints, per model, the
milliseconds per step of each class and the largest operations with
their input shapes, and writes ``benchmarks/results/<name>.json`` and
``.md`` (``--name``, default ``profile_<backend>``).
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile

from _child import spawn
from models import MODELS
from models import _batch
from models import _build
from models import _train_step

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

CLASSES = (
    (
        "matrix products",
        r"bmm|\bmm\b|addmm|matmul|dot|ynn_fusion|einsum|"
        r"scaled_dot_product",
    ),
    ("softmax", r"softmax"),
    ("random numbers", r"bernoulli|rng|random|threefry|uniform"),
    ("copies and transposes", r"copy|transpose|cat|concatenate|slice|clone"),
    (
        "elementwise",
        r"mul|add|sub|div|sigmoid|where|lerp|exp|neg|sqrt|"
        r"threshold|relu|clamp|select|maximum|fusion|layer_norm|sum|mean|"
        r"fill|reduce",
    ),
)


def classify(name):
    for label, pattern in CLASSES:
        if re.search(pattern, name):
            return label
    return "other"


def _torch_profile(model, data, steps):
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        for _ in range(steps):
            _train_step(model, *data)
    ops = []
    for event in p.key_averages(group_by_input_shape=True):
        if not event.key.startswith("aten::"):
            continue
        ops.append(
            dict(
                name=event.key,
                shapes=str(event.input_shapes)[:120],
                ms=event.self_cpu_time_total / 1e3 / steps,
                calls=event.count // steps,
            )
        )
    del torch
    return ops


def _jax_profile(model, data, steps):
    import jax

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(steps):
                _train_step(model, *data)
        (trace,) = glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)
        with gzip.open(trace) as f:
            events = json.load(f)["traceEvents"]
    total = collections.Counter()
    calls = collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") != "X" or name.startswith("$") or "Thunk" in name:
            continue
        if "Await" in name or "Dispatch" in name:
            continue
        key = re.sub(r"\.\d+$", "", name)
        total[key] += e.get("dur", 0) / 1e3 / steps
        calls[key] += 1
    return [
        dict(name=k, shapes="", ms=v, calls=calls[k] // steps)
        for k, v in total.items()
    ]


def _child(key, batch, frames, warmup, steps):
    model = _build(key, frames)
    data = _batch(model, batch, frames)
    for _ in range(warmup):
        wall = _train_step(model, *data)
    backend = os.environ["KERAS_BACKEND"]
    profiler = _torch_profile if backend == "torch" else _jax_profile
    ops = profiler(model, data, steps)
    by_class = collections.Counter()
    for op in ops:
        by_class[classify(op["name"])] += op["ms"]
    return dict(
        step_s=wall,
        by_class_ms=dict(by_class),
        top=sorted(ops, key=lambda o: -o["ms"])[:15],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("torch", "jax"), default="torch")
    parser.add_argument(
        "--models", nargs="+", default=["reference", "gateatt-tp"]
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--name")
    args = parser.parse_args(argv)
    if args.child:
        (key,) = args.child
        print(
            json.dumps(
                _child(key, args.batch, args.frames, args.warmup, args.steps)
            )
        )
        return
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        raise SystemExit(f"Unknown models {unknown}; known: {list(MODELS)}")
    results = {}
    for key in args.models:
        results[key] = spawn(
            __file__,
            args.backend,
            [
                key,
                "--batch",
                str(args.batch),
                "--frames",
                str(args.frames),
                "--warmup",
                str(args.warmup),
                "--steps",
                str(args.steps),
            ],
        )
    labels = [label for label, _ in CLASSES] + ["other"]
    lines = [
        "| model | step s (unprofiled) | "
        + " | ".join(f"{label} ms" for label in labels)
        + " | total ms |",
        "|---|---|" + "---|" * (len(labels) + 1),
    ]
    for key, r in results.items():
        if "error" in r:
            lines.append(f"| {key} | error: {r['error']} |")
            continue
        c = r["by_class_ms"]
        lines.append(
            f"| {key} | {r['step_s']:.3f} | "
            + " | ".join(f"{c.get(label, 0.0):.0f}" for label in labels)
            + f" | {sum(c.values()):.0f} |"
        )
    for key, r in results.items():
        if "error" in r:
            continue
        lines += ["", f"{key}: largest operations (ms per step)", ""]
        lines += [
            "| operation | input shapes | ms | calls |",
            "|---|---|---|---|",
        ]
        for op in r["top"]:
            lines.append(
                f"| {op['name']} | {op['shapes']} | {op['ms']:.1f} "
                f"| {op['calls']} |"
            )
    table = "\n".join(lines)
    command = " ".join(["python benchmarks/profile_step.py", *sys.argv[1:]])
    print(table)
    name = args.name or f"profile_{args.backend}"
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(
            dict(command=command, batch=args.batch, results=results),
            f,
            indent=1,
        )
    with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
        f.write(f"`{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()
