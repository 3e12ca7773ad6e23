# Two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv on first use (CPU builds of TensorFlow, JAX and
# PyTorch 2.13.0) and reuse it afterwards.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
# The demo's timings were measured on JAX; any backend works.
DEMO_BACKEND ?= jax
# Two pytest workers per backend (the machine has 2 cores); a test file
# stays on one worker, so its shared fixtures and trained models are reused.
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: install test test-slow test-floors test-no-tf test-loaders-every-backend docs demo lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: its CPU wheel, never the CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[cpu,dev]"
	touch $@

install: $(VENV)/.installed

# The whole suite once per backend; fails if any backend fails.
test: install
	@status=0; for backend in $(BACKENDS); do \
	  echo "=== pytest, KERAS_BACKEND=$$backend ==="; \
	  KERAS_BACKEND=$$backend $(BIN)/python -m pytest $(PYTEST_ARGS) \
	    || status=1; \
	done; exit $$status

# The tests marked slow (full-size paper models, torch.compile), which
# `make test` leaves out; CI runs them as a job of their own.
test-slow: install
	@status=0; for backend in $(BACKENDS); do \
	  echo "=== pytest -m slow, KERAS_BACKEND=$$backend ==="; \
	  JAX_DISABLE_MOST_OPTIMIZATIONS=0 KERAS_BACKEND=$$backend $(BIN)/python -m pytest $(PYTEST_ARGS) -m slow \
	    || status=1; \
	done; exit $$status

# The declared minimum versions (.ci/floors.txt, the `>=` floors of
# pyproject.toml) of Keras, NumPy and each backend, one venv per backend
# in $(FLOORS_DIR): TensorFlow's holds the tensorflow-cpu extra, JAX's and
# PyTorch's no TensorFlow at all (as `pip install keras-gmsa[jax]`). Each
# runs the smoke subset (`pytest -m smoke`). pip's download cache is shared
# with .venv; a venv is rebuilt when pyproject.toml or the floors change.
FLOORS_DIR ?= .venv-floors
FLOORS := .ci/floors.txt
SMOKE_TESTS ?= tests/test_smoke.py
FLOOR_EXTRA_tensorflow := tensorflow-cpu
FLOOR_EXTRA_jax := jax
FLOOR_EXTRA_torch := torch

$(FLOORS_DIR)/%/.installed: pyproject.toml $(FLOORS)
	rm -rf $(FLOORS_DIR)/$*
	$(PYTHON) -m venv $(FLOORS_DIR)/$*
	$(FLOORS_DIR)/$*/bin/python -m pip install --quiet --upgrade pip
	$(FLOORS_DIR)/$*/bin/python -m pip install --quiet -c $(FLOORS) \
	  -e ".[$(FLOOR_EXTRA_$*)]" "pytest>=8"
	$(FLOORS_DIR)/$*/bin/python -m pip freeze --exclude-editable > $(FLOORS_DIR)/$*/freeze.txt
	touch $@

test-floors: $(foreach b,$(BACKENDS),$(FLOORS_DIR)/$(b)/.installed)
	@status=0; for backend in $(BACKENDS); do \
	  echo "=== pytest -m smoke, declared minimum versions, KERAS_BACKEND=$$backend ==="; \
	  grep -iE '^(keras|numpy|tensorflow-cpu|jax|jaxlib|torch|ml.dtypes)=' \
	    $(FLOORS_DIR)/$$backend/freeze.txt | tr '\n' ' '; echo; \
	  KERAS_BACKEND=$$backend $(FLOORS_DIR)/$$backend/bin/python -m pytest \
	    -m smoke $(SMOKE_TESTS) || status=1; \
	done; exit $$status

# Without TensorFlow (issue 29): a venv of the jax and torch extras alone
# (Grain, PyTorch 2.13.0's CPU wheel, pyfarmhash, google-crc32c; no
# TensorFlow, checked), where records are read by keras_gmsa.loaders. It
# runs the loader tests (records written without TensorFlow; the
# comparisons with tf.data skip themselves) and the train / evaluate /
# predict commands, on JAX and on PyTorch: a few minutes.
NOTF_VENV ?= .venv-notf
NOTF_TESTS ?= tests/loaders tests/test_smoke.py

$(NOTF_VENV)/.installed: pyproject.toml
	rm -rf $(NOTF_VENV)
	$(PYTHON) -m venv $(NOTF_VENV)
	$(NOTF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NOTF_VENV)/bin/python -m pip install --quiet "torch==2.13.0"
	$(NOTF_VENV)/bin/python -m pip install --quiet -e ".[jax,torch]" \
	  "pytest>=8"
	@if $(NOTF_VENV)/bin/python -c "import tensorflow" 2>/dev/null; then \
	  echo "$(NOTF_VENV) holds TensorFlow"; exit 1; fi
	touch $@

test-no-tf: $(NOTF_VENV)/.installed
	@status=0; for backend in jax torch; do \
	  echo "=== pytest without TensorFlow, KERAS_BACKEND=$$backend ==="; \
	  KERAS_BACKEND=$$backend $(NOTF_VENV)/bin/python -m pytest \
	    $(NOTF_TESTS) || status=1; \
	done; exit $$status

# The loaders' equality with tf.data under JAX and PyTorch too (issue 29):
# `make test` compares them under TensorFlow only, since what the readers
# yield does not depend on the Keras backend; CI checks that it does not.
test-loaders-every-backend: install
	@status=0; for backend in jax torch; do \
	  echo "=== loaders against tf.data, KERAS_BACKEND=$$backend ==="; \
	  KERAS_GMSA_TEST_EVERY_BACKEND=1 KERAS_BACKEND=$$backend \
	    $(BIN)/python -m pytest $(PYTEST_ARGS) \
	    tests/loaders/test_equal_to_tf_data.py || status=1; \
	done; exit $$status

# The HTML API reference, from the docstrings (pdoc, Google style), into
# docs/api/ (not committed); fails if a module does not import.
docs: install
	rm -rf docs/api
	$(BIN)/python docs/build_api.py docs/api

demo: install
	KERAS_BACKEND=$(DEMO_BACKEND) $(BIN)/keras-gmsa demo

lint: install
	$(BIN)/ruff check keras_gmsa tests tuner examples benchmarks docs
	$(BIN)/ruff format --check keras_gmsa tests tuner examples benchmarks docs

clean:
	rm -rf $(VENV) $(FLOORS_DIR) $(NOTF_VENV) docs/api .pytest_cache build *.egg-info
