"""benchmarks/gpu_check.sh, the GPU day-one check, runs on the CPU as a smoke test (--device cpu --quick): one
markdown table with every row, exit 0. A check that fails or hangs is a FAILED row, and the others still run."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
ROWS = [  # (check, setting) of every row, in the table's order
    ("cuda tests", "pytest -m cuda tests/test_cuda_paths.py"),
    ("train 28 px", "fp32"),
    ("train 28 px", "bf16"),
    ("train 64 px", "fp32"),
    ("train 64 px", "bf16"),
    ("DDP, 1 process", "train --nproc 1 (gloo)"),
    ("sample", "1,000 images, 28 px"),
    ("eval", "eval_speed stages, n=500"),
    ("train 28 px", "bf16 + --compile"),
    ("train 64 px", "bf16 + --compile"),
    ("peak memory", "torch.cuda.max_memory_allocated, largest of the checks"),
]


def table_rows(stdout: str) -> list[list[str]]:
    """The markdown table's body rows, as lists of stripped cells."""
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert lines and lines[0].startswith("| check | setting | result |"), stdout
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def run_quick(*extra, timeout=240):
    return subprocess.run(
        [str(SCRIPT), "--device", "cpu", "--quick", *extra], capture_output=True, text=True, timeout=timeout
    )


def check_table(proc, skipped_by_option=()):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("| check | setting |") == 1, "one table"
    rows = table_rows(proc.stdout)
    assert [(row[0], row[1]) for row in rows] == ROWS
    results = {(row[0], row[1]): row[2] for row in rows}
    assert not [row for row in rows if "FAILED" in row[2]], proc.stdout
    for key in [("train 28 px", "bf16"), ("train 64 px", "bf16"), *ROWS[8:]]:
        assert results[key].startswith("skipped: no CUDA"), (key, results[key])
    for key, result in results.items():
        if key[0] in skipped_by_option:
            assert result.startswith("skipped: --skip"), (key, result)
    return results


def test_quick_cpu_smoke_run_prints_every_row_and_exits_0():
    """The default suite's share (about 15 s on this 2-core CPU): every row but DDP's, whose torchrun and rank
    start torch twice more (about 11 s; the slow test below runs it too)."""
    proc = run_quick("--skip", "ddp")
    results = check_table(proc, skipped_by_option=("DDP, 1 process",))
    assert results[ROWS[0]].startswith("skipped: no CUDA (") and "skipped: collected" in results[ROWS[0]]
    # a loaded CPU may fit too few steps in --quick's seconds to time them: the row then says so, and the path ran
    assert re.search(r"img/s|step\(s\), too few to time \(--quick\)", results[("train 28 px", "fp32")])
    assert "img/s" in results[("sample", "1,000 images, 28 px")]
    assert "samples/s" in results[("eval", "eval_speed stages, n=500")]


@pytest.mark.slow
def test_quick_cpu_smoke_run_with_ddp_and_the_cuda_tests():
    results = check_table(run_quick())
    assert re.fullmatch(r"[\d,]+ img/s \(4 steps, gloo\)", results[ROWS[5]]), results[ROWS[5]]


def running(pid: int) -> bool:
    """The process exists and is not a zombie (killed, waiting for a parent to reap it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


def test_a_failing_or_hanging_check_is_one_failed_line(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from gpu_check_isolate import isolated
    finally:
        sys.path.remove(str(REPO / "benchmarks"))

    def fails():
        raise ValueError("the GPU caught fire\nsecond line")

    def hangs():
        child = subprocess.Popen(["sleep", "60"])  # a process the check started: killed with it
        (tmp_path / "sleep.pid").write_text(str(child.pid))
        child.wait()

    def dies():
        import os

        os._exit(3)

    assert isolated(lambda: {"result": "fine"}, 30, tmp_path / "ok.log") == ("ok", {"result": "fine"})
    assert isolated(fails, 30, tmp_path / "fails.log") == ("FAILED", "ValueError: the GPU caught fire")
    assert "Traceback" in (tmp_path / "fails.log").read_text()
    start = time.monotonic()
    status, line = isolated(hangs, 1, tmp_path / "hangs.log")
    assert status == "FAILED" and line.startswith("timed out after 1 s") and time.monotonic() - start < 15
    assert not running(int((tmp_path / "sleep.pid").read_text()))
    status, line = isolated(dies, 30, tmp_path / "dies.log")
    assert status == "FAILED" and "exit 3" in line
