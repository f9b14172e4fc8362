# ganstudio: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# The demo trains to DEMO_STEPS, past the 1,500 where dcgan makes recognisable garments (docs/models.md, "How many
# steps"): 6:03 beside another training run on a 2-core CPU (one thread, below). DEMO_MINUTES is only a safety net
# (the run ends at whichever comes first): it still reaches DEMO_STEPS at 1 step/s, the slowest measured, so a loaded
# machine takes longer, not worse.
DEMO_STEPS ?= 2000
DEMO_MINUTES ?= 60
# One CPU thread: beside another job, torch's two threads wait on each other (measured side by side here, 2026-12-06:
# 78 img/s on 2 threads against 1,048 and 1,163 on 1; with OMP_WAIT_POLICY=PASSIVE 353 against 953); on a machine of
# your own, DEMO_THREADS=2 is faster.
DEMO_THREADS ?= 1
DEMO_NAME ?= demo
# TORCH=cpu installs PyTorch's CPU-only wheels (about 0.8 GB instead of about 5.6 GB with the CUDA build);
# it needs download.pytorch.org. The default takes torch from the package registry (CUDA build on x86_64 Linux).
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# LINT_CHECKS=1 (the default) runs ruff check, ruff format --check and lint-imports before the tests; LINT_CHECKS=0
# runs the tests alone. (Not plain LINT: make has a built-in LINT variable, so `?=` would never set it.)
LINT_CHECKS ?= 1
# Two pytest-xdist workers: many tests wait on processes they start (training, torchrun, Chromium), so two at once
# use a 2-core machine better than one (README, "Development": 300 s against 390 s); TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

.PHONY: demo lint test test-all clean

demo: $(VENV)/.installed
	OMP_NUM_THREADS=$(DEMO_THREADS) $(BIN)/ganstudio train --data fashion --model dcgan --steps $(DEMO_STEPS) --minutes $(DEMO_MINUTES) --grid-every 50 \
		--name $(DEMO_NAME) --overwrite
	$(BIN)/ganstudio sample $(DEMO_NAME) --n 144 --scale 2 --out samples/$(DEMO_NAME)/grid.png
	@echo "demo: made samples/$(DEMO_NAME)/grid.png (144 images of the final generator, each pixel doubled) and"
	@echo "  samples/$(DEMO_NAME)/timeline.gif (the same 64 latents every 50 steps, from step 0 to the last); open them."
	@echo "next: $(BIN)/ganstudio eval $(DEMO_NAME) (scores), $(BIN)/ganstudio report $(DEMO_NAME) (samples/$(DEMO_NAME)/report.html)"
	@echo "studio: $(BIN)/ganstudio studio --open (or open the URL it prints): this run live, its timeline, and its generator by hand"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: $(VENV)/.installed
ifeq ($(LINT_CHECKS),1)
	$(MAKE) --no-print-directory lint
endif
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test-all: $(VENV)/.installed
ifeq ($(LINT_CHECKS),1)
	$(MAKE) --no-print-directory lint
endif
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "slow or not slow"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	if [ "$(TORCH)" = cpu ]; then $(BIN)/python -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX); fi
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
