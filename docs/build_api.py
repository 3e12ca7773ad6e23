"""Builds the HTML API reference of keras_gmsa from its docstrings (pdoc).

`make docs` runs it: ``python docs/build_api.py [OUTPUT]`` writes
``docs/api/index.html`` and one page per public module (the package
itself and each of its modules whose name does not start with ``_``).
Docstrings are read in the Google style (Args/Returns). A module that
does not import stops the build, and so does any pdoc warning (a name in
``__all__`` that does not resolve, an annotation it cannot read), which
pdoc alone would print and build on.
"""

import importlib.util
import os
import pkgutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def public_modules():
    """``keras_gmsa`` and its public modules that ``keras_gmsa.__all__``
    does not already document (pdoc documents those on their own)."""
    import keras_gmsa

    exported = set(keras_gmsa.__all__)
    names = ["keras_gmsa"]
    for module in pkgutil.iter_modules(keras_gmsa.__path__):
        if module.name.startswith("_") or module.name in exported:
            continue
        names.append(f"keras_gmsa.{module.name}")
    return names


def main(argv=None):
    """Writes the reference into ``argv[0]`` (``docs/api``); returns 0."""
    argv = sys.argv[1:] if argv is None else argv
    output = Path(argv[0]) if argv else ROOT / "docs" / "api"
    # Some import asks `uname -p`; pdoc blocks subprocesses unless told.
    os.environ.setdefault("PDOC_ALLOW_EXEC", "1")
    sys.path.insert(0, str(ROOT))
    # TensorFlow's start-up log, silenced as the command line does (its
    # module loaded by path: importing keras_gmsa first would load TF).
    startup = ROOT / "keras_gmsa" / "_startup.py"
    if startup.exists():
        spec = importlib.util.spec_from_file_location("_startup", startup)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.quiet_start()
    warnings.filterwarnings("error", module="pdoc")
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="google")
    pdoc.pdoc(*public_modules(), output_directory=output)
    print(f"API reference: {output / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
