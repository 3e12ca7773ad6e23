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
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install test test-slow demo lint clean

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
	  KERAS_BACKEND=$$backend $(BIN)/python -m pytest $(PYTEST_ARGS) -m slow \
	    || status=1; \
	done; exit $$status

demo: install
	KERAS_BACKEND=$(DEMO_BACKEND) $(BIN)/keras-gmsa demo

lint: install
	$(BIN)/ruff check keras_gmsa tests tuner examples benchmarks
	$(BIN)/ruff format --check keras_gmsa tests tuner examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
