# ganstudio: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
DEMO_MINUTES ?= 2

.PHONY: demo test test-all clean

demo: $(VENV)/.installed
	$(BIN)/ganstudio train --data fashion --model dcgan --minutes $(DEMO_MINUTES) --overwrite
	$(BIN)/ganstudio sample --n 144

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

test-all: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "slow or not slow"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
