"""The examples in keras_gmsa's docstrings run and print what they show.

Every module whose source has a ``>>>`` example is imported and its
docstrings run with `doctest` (``# doctest: +SKIP`` marks the examples
that need data, a trained model or a network). The examples use
``keras.ops`` and ``tuple(x.shape)``, so they read the same on every
backend; they run on one, PyTorch (the quickest to start here).
"""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "keras_gmsa"

# Backend-neutral examples: run under one backend (tests/conftest.py).
pytestmark = pytest.mark.backends("torch")


def _modules_with_examples():
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "__main__.py" or ">>>" not in path.read_text():
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_the_examples_are_found():
    # A guard on the collection above: the layers and models have them.
    assert "keras_gmsa.layers.dequantize" in MODULES
    assert "keras_gmsa.models.embedding" in MODULES
    assert len(MODULES) >= 20


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    tests = [
        test
        for test in doctest.DocTestFinder().find(module, name)
        if test.examples
    ]
    # A ">>>" outside any docstring would never run.
    assert tests, f"{name} has '>>>' but no docstring example"
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
