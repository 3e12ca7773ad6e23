"""Error of the streaming Keras GAP/MAP metrics against the exact values.

python benchmarks/metrics_error.py            # prints a table
writes benchmarks/results/metrics_error.json
"""

import json
import os

import numpy as np

from keras_gmsa import metrics


def scores(rng, n, c):
    labels = (rng.random((n, c)) < 0.01).astype(np.float32)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    logits = rng.normal(-4, 1.5, size=(n, c)) + 4.0 * labels
    return (1 / (1 + np.exp(-logits))).astype(np.float32), labels


def main():
    rows = []
    for n, c in [(64, 6), (3000, 300), (20000, 100)]:
        p, y = scores(np.random.default_rng(1), n, c)
        exact_gap, exact_map = metrics.gap(p, y), metrics.mean_ap(p, y)
        for bins in (1024, 4096, 16384):
            g = metrics.GlobalAveragePrecision(num_bins=bins)
            m = metrics.MeanAveragePrecision(c, num_bins=bins)
            for s in range(0, n, 256):
                g.update_state(y[s : s + 256], p[s : s + 256])
                m.update_state(y[s : s + 256], p[s : s + 256])
            rows.append(
                dict(
                    videos=n,
                    classes=c,
                    bins=bins,
                    gap_error=abs(float(g.result()) - exact_gap),
                    map_error=abs(float(m.result()) - exact_map),
                )
            )
    print(
        f"{'videos':>7} {'classes':>7} {'bins':>6} {'GAP err':>9} "
        f"{'MAP err':>9}"
    )
    for r in rows:
        print(
            f"{r['videos']:>7} {r['classes']:>7} {r['bins']:>6} "
            f"{r['gap_error']:9.2e} {r['map_error']:9.2e}"
        )
    os.makedirs("benchmarks/results", exist_ok=True)
    with open("benchmarks/results/metrics_error.json", "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
