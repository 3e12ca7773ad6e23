"""Example scripts run end to end (KERAS_MAX_EPOCHS=1, 2 steps)."""

import os
import subprocess
import sys


def test_local_events_example_runs(tmp_path):
    env = dict(
        os.environ,
        KERAS_MAX_EPOCHS="1",
        KERAS_MAX_STEPS_PER_EPOCH="2",
        PYTHONPATH=os.getcwd(),
    )
    result = subprocess.run(
        [
            sys.executable,
            "examples/local_events.py",
            "--videos",
            "64",
            "--frames",
            "24",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["model", "local-event", "GAP"]
    gaps = [float(line.split()[-1]) for line in lines[1:]]
    assert len(gaps) == 3 and all(0 <= g <= 100 for g in gaps)
