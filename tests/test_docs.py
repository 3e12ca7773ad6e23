"""`make docs` (docs/build_api.py): pages from the docstrings, and a
failed build when a module does not import."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# the docs do not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("torch")

pytest.importorskip("pdoc")

ROOT = Path(__file__).resolve().parents[1]


def build(tmp_path, modules):
    """Runs a copy of docs/build_api.py over a package ``keras_gmsa`` made
    of `modules` (``{name: source}``) in `tmp_path`."""
    package = tmp_path / "keras_gmsa"
    package.mkdir(exist_ok=True)
    for name, source in modules.items():
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "build_api.py", tmp_path / "docs")
    return subprocess.run(
        [sys.executable, str(tmp_path / "docs" / "build_api.py"), "api"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_public_modules_get_pages_with_google_style_sections(tmp_path):
    done = build(
        tmp_path,
        {
            "__init__": '''
                """A package."""
                from keras_gmsa import shown
                __all__ = ["shown"]
            ''',
            "shown": '''
                """Shown through the package's __all__."""
                def frames(n):
                    """Counts frames.

                    Args:
                        n: how many.

                    Returns:
                        The count.
                    """
                    return n
            ''',
            "other": '"""A public module the package does not export."""',
            "_private": '"""Left out."""',
        },
    )
    assert done.returncode == 0, done.stderr
    pages = tmp_path / "api" / "keras_gmsa"
    assert sorted(p.name for p in pages.iterdir()) == [
        "other.html",
        "shown.html",
    ]
    html = (pages / "shown.html").read_text()
    assert '<h6 id="arguments">Arguments:</h6>' in html
    assert '<h6 id="returns">Returns:</h6>' in html


def test_a_module_that_does_not_import_fails_the_build(tmp_path):
    (tmp_path / "keras_gmsa" / "sub").mkdir(parents=True)
    (tmp_path / "keras_gmsa" / "sub" / "__init__.py").write_text('"""A."""')
    (tmp_path / "keras_gmsa" / "sub" / "broken.py").write_text(
        "import a_module_that_is_not_there\n"
    )
    done = build(tmp_path, {"__init__": '"""A package."""\n__all__ = []\n'})
    assert done.returncode != 0
    assert "Error importing keras_gmsa.sub.broken" in done.stderr


def test_a_pdoc_warning_fails_the_build(tmp_path):
    # pdoc only warns (and builds) when __all__ names what does not exist.
    done = build(
        tmp_path, {"__init__": '"""A package."""\n__all__ = ["missing"]\n'}
    )
    assert done.returncode != 0
    assert "'missing' in keras_gmsa.__all__, but it does not resolve" in (
        done.stderr
    )
