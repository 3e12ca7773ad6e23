"""Local attention cost as the number of frames T grows: dense vs banded.

    python benchmarks/attention_scaling.py
    python benchmarks/attention_scaling.py --backends jax \\
        --masks tp30 bd20 td60/4 --frames 300 1000 3000

One `LocalMaskedMHA` at the paper's rgb width (8 heads of 128, D = 1024)
with every head local (``--masks``, default the GateOp Toeplitz ``tp30``),
in a model ``frames -> attention -> mean over frames``, trained with MSE.
For each (backend, mask, implementation, T) a fresh process times
``--steps`` train steps and forward passes (medians after ``--warmup``)
and reports its peak resident memory. ``dense`` masks ``(B, H, T, T)``
scores (time and memory grow as T^2 once attention dominates the
projections); ``banded`` computes only the keys the mask can allow
(linear in T).

Prints a Markdown table, writes ``benchmarks/results/attention_scaling.json``
and ``.md``, and plots train-step time and peak memory against T to
``docs/figures/attention_scaling.png``.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

from _child import spawn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
FIGURE = os.path.join(ROOT, "docs", "figures", "attention_scaling.png")
BACKENDS = ("jax", "tensorflow", "torch")
IMPLEMENTATIONS = ("dense", "banded")


def _child(mask, implementation, frames, batch, width, steps, warmup):
    import keras
    import numpy as np

    from keras_gmsa.layers import LocalMaskedMHA

    heads = 8
    inputs = keras.Input((frames, width))
    attended = LocalMaskedMHA(
        heads,
        width // heads,
        head_masks=mask,
        implementation=implementation,
    )(inputs)
    model = keras.Model(inputs, keras.ops.mean(attended, axis=1))
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, frames, width)).astype("float32")
    y = rng.normal(size=(batch, width)).astype("float32")

    def train():
        start = time.perf_counter()
        float(keras.ops.convert_to_numpy(model.train_on_batch(x, y)))
        return time.perf_counter() - start

    def predict():
        start = time.perf_counter()
        keras.ops.convert_to_numpy(model.predict_on_batch(x))
        return time.perf_counter() - start

    for _ in range(warmup):
        train()
        predict()
    train_s = statistics.median(train() for _ in range(steps))
    predict_s = statistics.median(predict() for _ in range(steps))
    return dict(
        train_step_s=train_s,
        predict_step_s=predict_s,
        train_ms_per_frame=1e3 * train_s / (batch * frames),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def _spawn(backend, args):
    return spawn(__file__, backend, args)


def _table(rows):
    lines = [
        "| backend | mask | implementation | T | train step s "
        "| predict s | train ms/frame | peak RSS MB | dense / banded time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = (
            f"| {r['backend']} | {r['mask']} | {r['implementation']} "
            f"| {r['frames']} "
        )
        if "error" in r:
            lines.append(head + f"| error: {r['error']} | | | | |")
            continue
        ratio = r.get("dense_over_banded")
        lines.append(
            head + f"| {r['train_step_s']:.3f} | {r['predict_step_s']:.3f} "
            f"| {r['train_ms_per_frame']:.3f} | {r['peak_rss_mb']:.0f} "
            f"| {'' if ratio is None else format(ratio, '.2f')} |"
        )
    return "\n".join(lines)


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    keys = sorted(
        {(r["backend"], r["mask"], r["implementation"]) for r in rows}
    )
    for backend, mask, impl in keys:
        series = sorted(
            (r["frames"], r["train_step_s"], r["peak_rss_mb"])
            for r in rows
            if (r["backend"], r["mask"], r["implementation"])
            == (backend, mask, impl)
            and "error" not in r
        )
        if not series:
            continue
        t, step, rss = zip(*series, strict=True)
        style = "-o" if impl == "dense" else "--s"
        label = f"{backend} {mask} {impl}"
        ax_t.plot(t, step, style, label=label)
        ax_m.plot(t, rss, style, label=label)
    for ax, title in (
        (ax_t, "train step (s)"),
        (ax_m, "peak resident memory (MB)"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frames T")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=7)
    fig.suptitle("Local attention (8 heads, D = 1024): dense vs banded")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--masks", nargs="+", default=["tp30"])
    parser.add_argument(
        "--implementations", nargs="+", default=list(IMPLEMENTATIONS)
    )
    parser.add_argument(
        "--frames", nargs="+", type=int, default=[300, 1000, 3000]
    )
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--figure", default=FIGURE)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        mask, implementation, frames = args.child
        print(
            json.dumps(
                _child(
                    mask,
                    implementation,
                    int(frames),
                    args.batch,
                    args.width,
                    args.steps,
                    args.warmup,
                )
            )
        )
        return

    common = [
        "--batch",
        str(args.batch),
        "--width",
        str(args.width),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    rows = []
    for backend in args.backends:
        for mask in args.masks:
            for frames in args.frames:
                for impl in args.implementations:
                    row = dict(
                        backend=backend,
                        mask=mask,
                        implementation=impl,
                        frames=frames,
                        batch=args.batch,
                    )
                    row.update(
                        _spawn(backend, [mask, impl, str(frames), *common])
                    )
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    for row in rows:
        if row["implementation"] != "banded" or "error" in row:
            continue
        dense = next(
            (
                r
                for r in rows
                if r["implementation"] == "dense"
                and "error" not in r
                and (r["backend"], r["mask"], r["frames"])
                == (row["backend"], row["mask"], row["frames"])
            ),
            None,
        )
        if dense:
            row["dense_over_banded"] = (
                dense["train_step_s"] / row["train_step_s"]
            )
    table = _table(rows)
    print()
    print(table)
    command = " ".join(
        ["python benchmarks/attention_scaling.py", *sys.argv[1:]]
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "attention_scaling.json"), "w") as f:
        json.dump(dict(command=command, rows=rows), f, indent=1)
    with open(os.path.join(args.out, "attention_scaling.md"), "w") as f:
        f.write(f"`{command}`\n\n{table}\n")
    _plot(rows, args.figure)
    print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
