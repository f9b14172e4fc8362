# ganstudio: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
DEMO_MINUTES ?= 2
DEMO_NAME ?= demo
# TORCH=cpu installs PyTorch's CPU-only wheels (about 0.8 GB instead of about 5.6 GB with the CUDA build);
# it needs download.pytorch.org. The default takes torch from the package registry (CUDA build on x86_64 Linux).
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# LINT_CHECKS=1 (the default) runs ruff check, ruff format --check and lint-imports before the tests; LINT_CHECKS=0
# runs the tests alone. (Not plain LINT: make has a built-in LINT variable, so `?=` would never set it.)
LINT_CHECKS ?= 1

.PHONY: demo lint test test-all clean

demo: $(VENV)/.installed
	$(BIN)/ganstudio train --data fashion --model dcgan --minutes $(DEMO_MINUTES) --grid-every 25 --name $(DEMO_NAME) --overwrite
	$(BIN)/ganstudio sample $(DEMO_NAME) --n 144 --scale 2

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: $(VENV)/.installed
ifeq ($(LINT_CHECKS),1)
	$(MAKE) --no-print-directory lint
endif
	$(BIN)/python -m pytest -q

test-all: $(VENV)/.installed
ifeq ($(LINT_CHECKS),1)
	$(MAKE) --no-print-directory lint
endif
	$(BIN)/python -m pytest -q -m "slow or not slow"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	if [ "$(TORCH)" = cpu ]; then $(BIN)/python -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX); fi
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
