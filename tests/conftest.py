import logging
import os
import shutil
import tempfile

# JAX compiles every test's train step afresh, and on this suite's tiny
# models XLA's backend optimisations cost more than they save: without
# them the JAX run takes about 40% less time. Set before JAX is imported,
# so that the command-line subprocesses the tests start inherit it too.
# Compiled as users compile: `make test-slow` (which sets it to 0), the
# tests using the `xla_optimized` fixture, and benchmarks/.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# JAX's persistent compilation cache in a directory of this run, shared by
# the two workers and the command-line processes the tests start (they
# inherit the variables): what one process compiled (a tiny model's train
# step, an eager op) another loads instead of compiling again, about 15%
# of the JAX run. A cached executable is the one XLA builds (the key holds
# the program, the compile options and the versions). No size bound: with
# one, JAX sizes the whole directory at every write (thousands of entries:
# the run took longer than without a cache). An entry read while another
# process writes it fails to load and is compiled again (pyproject.toml
# ignores that warning). The directory is removed when the run ends
# (pytest_unconfigure).
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="keras-gmsa-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    # The same warning ignored in the processes the tests start (some
    # assert that a command writes nothing to standard error).
    os.environ.setdefault(
        "PYTHONWARNINGS",
        "ignore:Error reading persistent compilation cache,"
        "ignore:Error writing persistent compilation cache",
    )
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on this 2-core machine: one thread of
    # arithmetic each for PyTorch (and OpenMP) and XLA's Eigen (their
    # thread pools would otherwise each take every core, and the workers
    # would contend for them). Subprocesses the tests start inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    if "--xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = " ".join(
            [
                os.environ.get("XLA_FLAGS", ""),
                "--xla_cpu_multi_thread_eigen=false",
            ]
        ).strip()

# After the variables above (NumPy's BLAS reads OMP_NUM_THREADS).
import importlib.metadata  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The Keras backend of this run: set by pytest_sessionstart (below), in
# the processes that collect and run tests.
BACKEND = None
# KERAS_GMSA_TEST_EVERY_BACKEND=1: tests marked backends(...) run under
# this backend too (`make test-loaders-every-backend` sets it for the
# loaders' equality with tf.data; a few marked tests can only run where
# they are marked, e.g. the no-TensorFlow commands on TensorFlow).
EVERY_BACKEND = os.environ.get("KERAS_GMSA_TEST_EVERY_BACKEND") == "1"


def pytest_report_header(config):
    backend = os.environ.get("KERAS_BACKEND", "keras.json's or tensorflow")
    return f"keras {importlib.metadata.version('keras')}, backend {backend}"


def _runs_no_test(session):
    # The xdist controller of a distributed run (its "dsession" plugin is
    # registered only when workers will start: not for --collect-only,
    # nor for --dist without -n).
    return session.config.pluginmanager.has_plugin("dsession")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Keras and its backend are imported where tests are collected or
    run: one pytest process (--fixtures and --collect-only included), or
    each xdist worker. Not in the controller of a distributed run, which
    runs none (Keras with TensorFlow takes about 7 s to import, and the
    workers start after the controller has loaded this file)."""
    global BACKEND
    if _runs_no_test(session):
        return
    # PyTorch must be imported before TensorFlow when both are installed
    # (their bundled libraries clash the other way round).
    try:  # noqa: SIM105
        import torch  # noqa: F401
    except ImportError:
        pass
    import keras

    BACKEND = keras.backend.backend()


def pytest_collection_modifyitems(config, items):
    """A test marked ``backends(...)`` checks what no Keras backend changes
    (tf.data readers, NumPy metrics, the command line's arguments, the
    docs): `make test` runs it under the backends it names only, not
    three times (unless KERAS_GMSA_TEST_EVERY_BACKEND=1)."""
    keep, elsewhere = [], []
    for item in items:
        marker = item.get_closest_marker("backends")
        if marker is None or BACKEND in marker.args or EVERY_BACKEND:
            keep.append(item)
        else:
            elsewhere.append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
    # The longest files first (`make test` keeps this order for its two
    # workers: --no-loadscope-reorder), so that no worker is left running
    # a long file alone at the end.
    keep.sort(key=_long_files_first)
    items[:] = keep


# The files that took 40 s or more under one backend (`--durations=0`,
# summed per file), longest first; the rest keep their order after them.
_LONG_FILES = (
    "tests/loaders/test_equal_to_tf_data.py",
    "tests/test_multihost.py",
    "tests/loaders/test_commands.py",
    "tests/test_cli_flags.py",
    "tests/test_mixed_precision.py",
    "tests/test_analysis.py",
    "tests/models/test_preset_io.py",
    "tests/test_segments.py",
    "tests/models/test_build_model.py",
    "tests/test_train.py",
    "tests/models/test_zoo.py",
    "tests/test_export.py",
    "tests/models/test_learns_from_frames.py",
    "tests/layers/test_keras_mha_contract.py",
)


def _long_files_first(item):
    path = item.nodeid.split("::", 1)[0]
    if path in _LONG_FILES:
        return _LONG_FILES.index(path)
    return len(_LONG_FILES)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    # What one test (or a module's fixture) sets for the whole process is
    # put back: the dtype policy, and the keras_gmsa logger's level, INFO
    # as the library starts (`--verbose 0` run in-process sets WARNING;
    # the next test on that worker then printed nothing, depending on
    # which files the worker had been given).
    import keras

    keras.utils.set_random_seed(1234)
    policy = keras.config.dtype_policy()
    logging.getLogger("keras_gmsa").setLevel(logging.INFO)
    yield
    keras.config.set_dtype_policy(policy)
    logging.getLogger("keras_gmsa").setLevel(logging.INFO)


@pytest.fixture
def xla_optimized():
    """JAX compiles with XLA's optimisations in this test (the suite
    otherwise leaves them out: JAX_DISABLE_MOST_OPTIMIZATIONS above)."""
    if BACKEND != "jax":
        yield
        return
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_unconfigure(config):
    # The process that made the cache directory removes it: the one pytest
    # process, or under xdist the controller, after its workers ended.
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)
