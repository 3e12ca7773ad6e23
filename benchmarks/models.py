"""Training and prediction speed, FLOPs and memory of the zoo's models.

    python benchmarks/models.py                       # every model, backend
    python benchmarks/models.py --models baseline gateop-tp \\
        --backends jax tensorflow --batch-sizes 16

For each (backend, model, batch size) a fresh process builds the model at
the paper's input shape (T = 300 frames of uint8 rgb 1024 + audio 128,
3862 classes), runs ``--warmup`` train steps, then times ``--steps``
``train_on_batch`` and ``predict_on_batch`` calls (medians), and reports
its peak resident memory. FLOPs per video are counted once per model by
XLA's cost analysis of the jitted forward pass and of the training step
(loss, gradients; JAX backend), so every backend is measured against the
same arithmetic. Achieved GFLOP/s = train FLOPs per video x videos/s;
the peak is a float32 2048^3 NumPy matmul measured in the same run.
Ratios are against the baseline of the same backend and batch size.

Known limit: XLA's cost analysis counts the body of a loop once, so the
FLOPs of the recurrent models (``kakao_blstm``, ``frame_lstm``) are those
of one time step, and their GFLOP/s are understated accordingly.

Prints a Markdown table and writes ``benchmarks/results/models.json`` and
``benchmarks/results/models.md``.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

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


def _build(key, frames):
    import keras_gmsa

    name, options = MODELS[key]
    return keras_gmsa.build_model(name, max_frames=frames, **options)


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


def _child_time(key, batch, frames, steps, warmup):
    import keras
    import numpy as np

    model = _build(key, frames)
    features, labels = _batch(model, batch, frames)
    for _ in range(warmup):
        model.train_on_batch(features, labels)
    train = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = model.train_on_batch(features, labels)
        np.asarray(keras.ops.convert_to_numpy(loss))
        train.append(time.perf_counter() - start)
    for _ in range(warmup):
        model.predict_on_batch(features)
    predict = []
    for _ in range(steps):
        start = time.perf_counter()
        np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(features)))
        predict.append(time.perf_counter() - start)
    return dict(
        train_step_s=statistics.median(train),
        predict_step_s=statistics.median(predict),
        train_videos_s=batch / statistics.median(train),
        predict_videos_s=batch / statistics.median(predict),
        weights_mb=model.count_params() * 4 / 2**20,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


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
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(HERE), env.get("PYTHONPATH", "")]
    )
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def matmul_peak(size=2048, repeats=5):
    """GFLOP/s of a float32 size^3 NumPy matmul (median of repeats)."""
    import numpy as np

    a = np.random.default_rng(0).random((size, size), dtype="float32")
    np.dot(a, a)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.dot(a, a)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def _table(rows):
    lines = [
        "| model | backend | batch | train videos/s | predict videos/s "
        "| train GFLOP/video | GFLOP/s | % of peak | vs baseline "
        "| peak RSS MB | weights MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['model']} | {r['backend']} | {r['batch']} | error: "
                f"{r['error']} |||||||| "
            )
            continue
        lines.append(
            f"| {r['model']} | {r['backend']} | {r['batch']} "
            f"| {r['train_videos_s']:.2f} | {r['predict_videos_s']:.2f} "
            f"| {r['train_gflop_per_video']:.2f} | {r['gflops']:.1f} "
            f"| {100 * r['fraction_of_peak']:.0f} "
            f"| {r['gflops_vs_baseline']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {r['weights_mb']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)

    if args.child:
        kind, key, *rest = args.child
        if kind == "flops":
            result = _child_flops(key, args.frames)
        else:
            result = _child_time(
                key, int(rest[0]), args.frames, args.steps, args.warmup
            )
        print(json.dumps(result))
        return

    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        raise SystemExit(f"Unknown models {unknown}; known: {list(MODELS)}")
    peak = matmul_peak()
    print(f"float32 2048^3 matmul (NumPy): {peak:.0f} GFLOP/s", flush=True)
    common = ["--frames", str(args.frames)]
    flops = {}
    for key in args.models:
        flops[key] = _spawn("jax", ["flops", key, *common])
        print(f"{key}: {flops[key]}", flush=True)
    rows = []
    for backend in args.backends:
        for batch in args.batch_sizes:
            for key in args.models:
                timing = _spawn(
                    backend,
                    [
                        "time",
                        key,
                        str(batch),
                        *common,
                        "--steps",
                        str(args.steps),
                        "--warmup",
                        str(args.warmup),
                    ],
                )
                row = dict(model=key, backend=backend, batch=batch, **timing)
                if "error" not in row and "error" not in flops[key]:
                    row["train_gflop_per_video"] = (
                        flops[key]["train_flops"] / 1e9
                    )
                    row["forward_gflop_per_video"] = (
                        flops[key]["forward_flops"] / 1e9
                    )
                    row["gflops"] = (
                        row["train_gflop_per_video"] * row["train_videos_s"]
                    )
                    row["fraction_of_peak"] = row["gflops"] / peak
                rows.append(row)
                print(json.dumps(row), flush=True)
    for row in rows:
        base = next(
            (
                r
                for r in rows
                if r["model"] == "baseline"
                and r["backend"] == row["backend"]
                and r["batch"] == row["batch"]
                and "gflops" in r
            ),
            None,
        )
        if "gflops" in row:
            row["gflops_vs_baseline"] = (
                row["gflops"] / base["gflops"] if base else float("nan")
            )
            row["step_time_vs_baseline"] = (
                row["train_step_s"] / base["train_step_s"]
                if base
                else float("nan")
            )
    table = _table(rows)
    print()
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "models.json"), "w") as f:
        json.dump(
            dict(
                matmul_peak_gflops=peak,
                frames=args.frames,
                steps=args.steps,
                warmup=args.warmup,
                flops=flops,
                rows=rows,
            ),
            f,
            indent=1,
        )
    with open(os.path.join(args.out, "models.md"), "w") as f:
        f.write(f"Matmul peak: {peak:.0f} GFLOP/s (float32 2048^3, NumPy)\n\n")
        f.write(table + "\n")


if __name__ == "__main__":
    main()
