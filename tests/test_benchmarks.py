"""The benchmark scripts still run end to end (slow: each row is a fresh process; `make test-all` runs it)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_throughput_benchmark_prints_its_table(tmp_path):
    out = tmp_path / "table.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "throughput.py"),
            "--shapes",
            "28",
            "--seconds",
            "1",
            "--warmup",
            "0.5",
            "--repeats",
            "1",
            "--no-ablation",
            "--markdown",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    table = out.read_text()
    for row in (
        "train: baseline",
        "train: ours (default)",
        "sampling (ganstudio sample)",
        "eval features (classifier)",
    ):
        assert f"| {row} | 1x28x28 |" in table
    assert "failed" not in proc.stderr
