"""`keras-gmsa demo` (the README's first command) on a small budget."""

import json

import keras
import numpy as np

from keras_gmsa import demo


def test_demo_reports_the_order_aware_baseline_and_saves_models(
    tmp_path, capsys
):
    out = tmp_path / "demo"
    rows = demo.run(
        cache_dir=str(tmp_path / "cache"),
        output_dir=str(out),
        epochs=1,
        train_videos=48,
        test_videos=32,
        verbose=0,
        models=["baseline", "baseline+sin"],
    )
    printed = capsys.readouterr().out
    assert [r["row"] for r in rows] == ["baseline", "baseline+sin"]
    assert rows[1]["options"] == {"positional_encoding": "sinusoidal"}
    lines = [line for line in printed.splitlines() if line.startswith("| ")]
    assert lines[1].startswith("| baseline |")
    assert lines[2].startswith("| baseline + sinusoidal positions |")
    report = json.loads((out / "report.json").read_text())
    assert [r["row"] for r in report["rows"]] == ["baseline", "baseline+sin"]
    assert (
        "| baseline + sinusoidal positions |" in (out / "report.md").read_text()
    )
    for r in rows:
        assert 0 <= r["gap"] <= 1 and 0 <= r["local_gap"] <= 1
        model = keras.saving.load_model(r["saved"])
        layers = {layer.name for layer in model.layers}
        assert ("rgb_positional_encoding" in layers) == (
            r["row"] == "baseline+sin"
        )
        assert np.isfinite(model.count_params())
