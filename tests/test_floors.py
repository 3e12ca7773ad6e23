"""The declared floors and `.ci/floors.txt` (what `make test-floors`
installs) cannot drift apart."""

from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# the declared floors do not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("torch")

ROOT = Path(__file__).resolve().parents[1]
# The extras of a backend (and `cpu`, which holds them all): their floors
# are tested. Tools (tuner, plots, dev) are not.
BACKEND_EXTRAS = ("tensorflow", "tensorflow-cpu", "jax", "torch", "cpu")
BACKEND_PACKAGES = {
    "tensorflow",
    "tensorflow-cpu",
    "tensorboard",
    "google-crc32c",
    "jax",
    "torch",
    "grain",
    "pyfarmhash",
}


def declared_floors(pyproject_text):
    """``{name: Version}`` of the `>=` floors of the core dependencies and
    the backend extras; a name declared twice must have one floor."""
    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project["dependencies"])
    extras = project["optional-dependencies"]
    for extra in BACKEND_EXTRAS:
        lines += [
            line
            for line in extras[extra]
            if canonicalize_name(Requirement(line).name) in BACKEND_PACKAGES
        ]
    floors = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        specs = {spec.operator: spec.version for spec in requirement.specifier}
        assert set(specs) == {">="}, f"{line}: a floor (>=) and nothing else"
        floor = Version(specs[">="])
        assert floors.setdefault(name, floor) == floor, (
            f"{name}: two floors, {floors[name]} and {floor}"
        )
    return floors


def constrained_versions(floors_text):
    """``{name: Version}`` of the ``name==version`` lines of a pip
    constraints file."""
    pins = {}
    for line in floors_text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line}: an exact version"
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def test_floors_file_holds_exactly_the_declared_floors():
    declared = declared_floors((ROOT / "pyproject.toml").read_text())
    pinned = constrained_versions((ROOT / ".ci" / "floors.txt").read_text())
    assert {"keras", "numpy", "tensorflow-cpu", "jax", "torch"} <= set(declared)
    assert pinned == declared


def test_a_changed_floor_or_an_exact_pin_is_caught():
    text = (ROOT / "pyproject.toml").read_text()
    pinned = constrained_versions((ROOT / ".ci" / "floors.txt").read_text())
    raised = declared_floors(text.replace('"keras>=3.15"', '"keras>=3.16"'))
    assert raised != pinned and raised["keras"] == Version("3.16")
    # An exact pin in an extra blocks every other build for the users.
    with pytest.raises(AssertionError, match="a floor"):
        declared_floors(text.replace('"torch>=2.13"', '"torch==2.13.0"', 1))
