#!/usr/bin/env bash
# GPU day one: the CUDA tests, training / DDP / sample / eval speed and peak memory, as one markdown table.
#   benchmarks/gpu_check.sh                        # on a GPU (at most 450 s of checks)
#   benchmarks/gpu_check.sh --device cpu --quick   # the CPU smoke test (CI runs it: tests/test_gpu_check.py)
# The work is benchmarks/gpu_check.py, run with the venv's python ($PYTHON, else .venv/bin/python, else python3);
# docs/benchmarks.md ("GPU day one") says what the table holds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
if [ ! -x "$python" ]; then
    python="$(command -v python3 || true)"
fi
if [ -z "$python" ]; then
    echo "error: no python: set PYTHON, or make the venv (make test)" >&2
    exit 2
fi
exec "$python" "$here/gpu_check.py" "$@"
