"""Helpers shared by the benchmark scripts (private)."""

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn(script, backend, args):
    """Runs ``script --child ARGS`` in a fresh process on `backend`.

    Returns the JSON object the child printed last, or ``{"error": ...}``
    with the last line of its stderr (a crash or an out-of-memory kill is a
    row of the table, not the end of the run).
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, os.path.abspath(script), "--child", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        lines = (done.stderr.strip() or "killed").splitlines()
        return {"error": f"exit {done.returncode}: {lines[-1][:300]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_seconds(fn, repeats):
    """Median wall time of `repeats` calls of `fn` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
