"""Training and prediction speed, FLOPs and memory of the zoo's models.

(About 480 lines: the child process that times one model and the parent
that pairs and tabulates them share their measurement code.)

    python benchmarks/models.py                       # every model, backend
    python benchmarks/models.py --models baseline gateop-tp \\
        --backends tensorflow --jit-compile auto true --batch-sizes 16

For each (backend, jit_compile, batch size, model) a fresh process builds
the model at the paper's input shape (T = 300 frames of uint8 rgb 1024 +
audio 128, 3862 classes), warms it up alone (so the peak resident memory it
reports is that of training this model only), then, unless ``--no-pair``,
builds the baseline in the same process and times ``--steps`` train steps
and predict steps of the two interleaved (model, baseline, model, ...).
Medians are reported; every ratio against the baseline uses the baseline
timed in the same process, so both saw the same machine load (this 2-core
machine's speed drifts by tens of percent over minutes).

FLOPs per video are counted once per model by XLA's cost analysis of the
jitted forward pass and of the training step (loss and gradients; JAX
backend), so every backend is measured against the same arithmetic.
Achieved GFLOP/s = train FLOPs per video x videos/s; the peak is the best
float32 2048^3 matmul of NumPy and of the backend itself, measured in the
same process right after the timed steps.

Known limit: XLA's cost analysis counts the body of a loop once, so the
FLOPs of the recurrent models (``kakao_blstm``, ``frame_lstm``) are those
of one time step, and their GFLOP/s are understated accordingly.

Prints a Markdown table and the issue's targets as measured, and writes
``benchmarks/results/<name>.json`` and ``.md`` (``--name``, default
``models``).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

from _child import median_seconds
from _child import spawn

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# name -> (build_model name, mask options)
MODELS = {
    "baseline": ("baseline", {}),
    "shareatt-bd": ("shareatt", dict(mask="bd")),
    "shareatt-tp": ("shareatt", dict(mask="tp")),
    "shareatt-td": ("shareatt", dict(mask="td")),
    "gateatt-bd": ("gateatt", dict(mask="bd")),
    "gateatt-tp": ("gateatt", dict(mask="tp")),
    "gateatt-td": ("gateatt", dict(mask="td")),
    "gateop-bd": ("gateop", dict(mask="bd")),
    "gateop-tp": ("gateop", dict(mask="tp")),
    "gateop-td": ("gateop", dict(mask="td")),
    "attention_cluster": ("attention_cluster", {}),
    "kakao_blstm": ("kakao_blstm", {}),
    "kakao_netvlad": ("kakao_netvlad", {}),
    "dbof": ("dbof", {}),
    "frame_lstm": ("frame_lstm", {}),
    "frame_logistic": ("frame_logistic", {}),
}
BACKENDS = ("tensorflow", "jax", "torch")


def _build(key, frames, jit_compile="auto"):
    import keras_gmsa

    name, options = MODELS[key]
    return keras_gmsa.build_model(
        name, max_frames=frames, jit_compile=jit_compile, **options
    )


def _batch(model, batch, frames, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    features = {}
    for key, tensor in model.input.items():
        if key == "num_frames":
            features[key] = np.full((batch,), frames, "int32")
        elif key == "given_labels":
            features[key] = np.zeros((batch, tensor.shape[-1]), "float32")
        else:
            features[key] = rng.integers(
                0, 256, (batch, frames, tensor.shape[-1]), dtype="uint8"
            )
    classes = int(model.output_shape[-1])
    labels = (rng.random((batch, classes)) < 0.001).astype("float32")
    return features, labels


def _train_step(model, features, labels):
    import keras

    start = time.perf_counter()
    loss = model.train_on_batch(features, labels)
    float(keras.ops.convert_to_numpy(loss))
    return time.perf_counter() - start


def _predict_step(model, features):
    import keras

    start = time.perf_counter()
    keras.ops.convert_to_numpy(model.predict_on_batch(features))
    return time.perf_counter() - start


def _child_time(key, batch, frames, steps, warmup, pair, jit_compile):
    """Times `key` (and, with `pair`, the baseline interleaved with it).

    The model is built and warmed up alone first, so the peak resident
    memory reported is that of a process training `key` only. With `pair`
    the baseline is then built in the same process and the timed steps
    alternate (model, baseline, model, baseline, ...), so both medians see
    the same machine load; ratios against the baseline use these.
    """
    model = _build(key, frames, jit_compile)
    features, labels = _batch(model, batch, frames)
    for _ in range(warmup):
        _train_step(model, features, labels)
        _predict_step(model, features)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed = {"model": model}
    if pair and key != "baseline":
        base = _build("baseline", frames, jit_compile)
        base_features, base_labels = _batch(base, batch, frames)
        for _ in range(warmup):
            _train_step(base, base_features, base_labels)
            _predict_step(base, base_features)
        timed["baseline"] = base
    data = {"model": (features, labels)}
    if "baseline" in timed:
        data["baseline"] = (base_features, base_labels)
    train = {name: [] for name in timed}
    predict = {name: [] for name in timed}
    for _ in range(steps):
        for name, m in timed.items():
            train[name].append(_train_step(m, *data[name]))
    for _ in range(steps):
        for name, m in timed.items():
            predict[name].append(_predict_step(m, data[name][0]))
    result = dict(
        train_step_s=statistics.median(train["model"]),
        predict_step_s=statistics.median(predict["model"]),
        train_videos_s=batch / statistics.median(train["model"]),
        predict_videos_s=batch / statistics.median(predict["model"]),
        weights_mb=model.count_params() * 4 / 2**20,
        peak_rss_mb=peak_rss_mb,
        jit_compile=str(model.jit_compile),
        matmul_peak_gflops=matmul_peak(),
    )
    if "baseline" in timed:
        result["paired_baseline_train_step_s"] = statistics.median(
            train["baseline"]
        )
        result["paired_baseline_predict_step_s"] = statistics.median(
            predict["baseline"]
        )
    return result


def _cost(compiled):
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost["flops"])


def _child_flops(key, frames):
    """XLA's FLOP count per video of the forward pass and a train step."""
    import jax
    import keras

    model = _build(key, frames)
    features, labels = _batch(model, 1, frames)
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    loss_fn = keras.losses.BinaryCrossentropy()

    def forward(trainable, frozen, x):
        return model.stateless_call(trainable, frozen, x)[0]

    def loss(trainable, frozen, x, y):
        out, _ = model.stateless_call(trainable, frozen, x, training=True)
        return loss_fn(y, out)

    fwd = jax.jit(forward).lower(trainable, frozen, features).compile()
    step = (
        jax.jit(jax.value_and_grad(loss))
        .lower(trainable, frozen, features, labels)
        .compile()
    )
    return dict(forward_flops=_cost(fwd), train_flops=_cost(step))


def _spawn(backend, args):
    return spawn(__file__, backend, args)


def matmul_peak(size=2048, repeats=5):
    """GFLOP/s of a float32 size^3 matmul: the best median of NumPy and of
    the current Keras backend's own matmul (measured in this process)."""
    import numpy as np

    a = np.random.default_rng(0).random((size, size), dtype="float32")
    runs = [lambda: np.dot(a, a)]
    backend = os.environ.get("KERAS_BACKEND")
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.constant(a)
        fn = tf.function(lambda: tf.matmul(t, t))
        runs.append(lambda: fn().numpy())
    elif backend == "jax":
        import jax

        t = jax.numpy.asarray(a)
        fn = jax.jit(lambda x: x @ x)
        runs.append(lambda: fn(t).block_until_ready())
    elif backend == "torch":
        import torch

        t = torch.from_numpy(a)
        runs.append(lambda: torch.matmul(t, t))
    return max(2 * size**3 / median_seconds(run, repeats) / 1e9 for run in runs)


def _fmt(value, spec):
    return "" if value is None else format(value, spec)


def _table(rows):
    lines = [
        "| model | backend | jit | batch | train videos/s | predict videos/s "
        "| train GFLOP/video | GFLOP/s | % of peak | step time vs baseline "
        "| GFLOP/s vs baseline | slowdown vs fastest backend "
        "| peak RSS MB | RSS vs baseline | weights MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['model']} | {r['backend']} | {r['jit']} | {r['batch']} "
        if "error" in r:
            lines.append(head + f"| error: {r['error']} |" + " |" * 10)
            continue
        g = r.get
        pct = g("fraction_of_peak")
        pct = None if pct is None else 100 * pct
        lines.append(
            head + f"| {r['train_videos_s']:.2f} | {r['predict_videos_s']:.2f} "
            f"| {_fmt(g('train_gflop_per_video'), '.2f')} "
            f"| {_fmt(g('gflops'), '.1f')} "
            f"| {_fmt(pct, '.0f')} "
            f"| {_fmt(g('step_time_vs_baseline'), '.2f')} "
            f"| {_fmt(g('gflops_vs_baseline'), '.2f')} "
            f"| {_fmt(g('slowdown_vs_fastest_backend'), '.2f')} "
            f"| {r['peak_rss_mb']:.0f} | {_fmt(g('rss_vs_baseline'), '.2f')} "
            f"| {r['weights_mb']:.1f} |"
        )
    return "\n".join(lines)


def _derive(rows, flops):
    """Adds GFLOP/s, fractions and the ratios to each row, in place."""
    for row in rows:
        if "error" in row:
            continue
        f = flops.get(row["model"], {})
        if "train_flops" in f:
            row["train_gflop_per_video"] = f["train_flops"] / 1e9
            row["forward_gflop_per_video"] = f["forward_flops"] / 1e9
            row["gflops"] = row["train_gflop_per_video"] * row["train_videos_s"]
            row["fraction_of_peak"] = row["gflops"] / row["matmul_peak_gflops"]
        paired = row.get("paired_baseline_train_step_s")
        if row["model"] == "baseline":
            paired = row["train_step_s"]
        if paired:
            row["step_time_vs_baseline"] = row["train_step_s"] / paired
            base = flops.get("baseline", {})
            if "train_flops" in f and "train_flops" in base:
                row["gflops_vs_baseline"] = (
                    f["train_flops"] / base["train_flops"]
                ) / row["step_time_vs_baseline"]
        same = [
            r
            for r in rows
            if "error" not in r
            and r["model"] == row["model"]
            and r["batch"] == row["batch"]
        ]
        row["slowdown_vs_fastest_backend"] = (
            max(r["train_videos_s"] for r in same) / row["train_videos_s"]
        )
        base_row = next(
            (
                r
                for r in rows
                if "error" not in r
                and r["model"] == "baseline"
                and (r["backend"], r["batch"], r["jit"])
                == (row["backend"], row["batch"], row["jit"])
            ),
            None,
        )
        if base_row:
            row["rss_vs_baseline"] = (
                row["peak_rss_mb"] / base_row["peak_rss_mb"]
            )


def _targets(rows):
    """The issue's four targets, checked on the measured rows."""
    ok = [r for r in rows if "error" not in r]
    lines = []
    base = [
        r for r in ok if r["model"] == "baseline" and "fraction_of_peak" in r
    ]
    if base:
        best = max(base, key=lambda r: r["fraction_of_peak"])
        lines.append(
            f"- baseline, best backend ({best['backend']}, jit "
            f"{best['jit']}, batch {best['batch']}): "
            f"{100 * best['fraction_of_peak']:.0f}% of the matmul peak "
            f"(target >= 80%)"
        )
    gmsa = [
        r
        for r in ok
        if r["model"].split("-")[0] in ("shareatt", "gateatt", "gateop")
        and "gflops_vs_baseline" in r
    ]
    if gmsa:
        worst = min(gmsa, key=lambda r: r["gflops_vs_baseline"])
        lines.append(
            f"- GMSA GFLOP/s vs baseline, worst: {worst['model']} on "
            f"{worst['backend']} (jit {worst['jit']}, batch "
            f"{worst['batch']}): {worst['gflops_vs_baseline']:.2f} "
            f"(target >= 0.95)"
        )
    if ok:
        worst = max(ok, key=lambda r: r["slowdown_vs_fastest_backend"])
        lines.append(
            f"- slowest backend vs fastest, worst: {worst['model']} batch "
            f"{worst['batch']} on {worst['backend']} (jit {worst['jit']}): "
            f"{worst['slowdown_vs_fastest_backend']:.2f}x (target <= 1.5x)"
        )
    mem = [r for r in gmsa if r["batch"] == 64 and "rss_vs_baseline" in r]
    if mem:
        worst = max(mem, key=lambda r: r["rss_vs_baseline"])
        lines.append(
            f"- batch-64 peak RSS vs baseline, worst: {worst['model']} on "
            f"{worst['backend']} (jit {worst['jit']}): "
            f"{worst['rss_vs_baseline']:.2f}x (target <= 1.3x)"
        )
    return "\n".join(lines)


def _flag(value):
    return {"auto": "auto", "true": True, "false": False}[value.lower()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--jit-compile",
        nargs="+",
        default=["auto"],
        help="values of compile(jit_compile=...) to measure: auto true false",
    )
    parser.add_argument(
        "--no-pair",
        action="store_true",
        help="do not time the baseline interleaved in each model's process",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--name", default="models", help="output file stem")
    args = parser.parse_args(argv)

    if args.child:
        kind, key, *rest = args.child
        if kind == "flops":
            result = _child_flops(key, args.frames)
        else:
            batch, pair, jit = rest
            result = _child_time(
                key,
                int(batch),
                args.frames,
                args.steps,
                args.warmup,
                pair == "1",
                _flag(jit),
            )
        print(json.dumps(result))
        return

    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        raise SystemExit(f"Unknown models {unknown}; known: {list(MODELS)}")
    common = ["--frames", str(args.frames)]
    flops = {}
    for key in sorted(set(args.models) | {"baseline"}):
        flops[key] = _spawn("jax", ["flops", key, *common])
        print(f"{key}: {flops[key]}", flush=True)
    rows = []
    for backend in args.backends:
        for jit in args.jit_compile:
            for batch in args.batch_sizes:
                for key in args.models:
                    timing = _spawn(
                        backend,
                        [
                            "time",
                            key,
                            str(batch),
                            "0" if args.no_pair else "1",
                            jit,
                            *common,
                            "--steps",
                            str(args.steps),
                            "--warmup",
                            str(args.warmup),
                        ],
                    )
                    row = dict(model=key, backend=backend, jit=jit, batch=batch)
                    row.update(timing)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    _derive(rows, flops)
    table = _table(rows)
    targets = _targets(rows)
    print()
    print(table)
    print()
    print(targets)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.name}.json"), "w") as f:
        json.dump(
            dict(
                command=" ".join(
                    ["python benchmarks/models.py", *sys.argv[1:]]
                ),
                frames=args.frames,
                steps=args.steps,
                warmup=args.warmup,
                flops=flops,
                rows=rows,
            ),
            f,
            indent=1,
        )
    with open(os.path.join(args.out, f"{args.name}.md"), "w") as f:
        f.write(
            "`"
            + " ".join(["python benchmarks/models.py", *sys.argv[1:]])
            + "`\n\n"
            + table
            + "\n\n"
            + targets
            + "\n"
        )


if __name__ == "__main__":
    main()
