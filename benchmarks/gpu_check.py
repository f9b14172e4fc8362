r"""GPU day one: every CUDA path of ganstudio checked and timed in one call, printed as one markdown table.

    benchmarks/gpu_check.sh                          # on a GPU: about 6 minutes, at most --budget (450 s)
    benchmarks/gpu_check.sh --device cpu --quick     # the smoke test CI runs on the CPU (tiny settings)
    benchmarks/gpu_check.sh --skip compile --markdown /tmp/gpu.md

Rows: the CUDA-marked tests (``pytest -m cuda``); training throughput at 28 and 64 px in fp32, bf16 and bf16 with
--compile (benchmarks/throughput.py's ``ours`` row: ganstudio's loop, no callbacks); ``ganstudio train --nproc 1``
(torchrun, DDP over nccl on a GPU, gloo on the CPU); sampling and ``ganstudio eval``'s stages
(benchmarks/throughput.py's sampling row, benchmarks/eval_speed.py's stages); the peak of
torch.cuda.max_memory_allocated over the checks. Each check runs in a process of its own under its own timeout
(gpu_check_isolate.py): a check that fails, crashes or hangs is a FAILED row with one line and the rest still run.
Exit status 0 when no row FAILED, 1 otherwise. On the CPU, the bf16 and --compile rows of --quick say
"skipped: no CUDA".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]  # throughput.py and eval_speed.py beside this file; ganstudio uninstalled too

try:  # torch, ganstudio and the benchmarks, imported once here: every check is a fork of this process
    from gpu_check_isolate import isolated
    from gpu_checks import Context, check_ddp, check_eval, check_sample, check_tests, check_train

    from ganstudio.store.atomic import atomic_write_text
except ImportError as e:
    raise SystemExit(f"error: {e}: run with the venv's python (benchmarks/gpu_check.sh)") from None


@dataclass(frozen=True)
class Plan:
    """How big each check is: the GPU plan, or the CPU smoke test's (--quick)."""

    batch: int = 128  # training rows (benchmarks/throughput.py's batch)
    warmup: float = 2.0  # seconds of a training row not measured
    seconds: float = 8.0  # measured seconds of a training row
    compile_allowance: float = 60.0  # --compile rows train this much longer: compiling happens inside the budget
    jpegs: int = 3000  # CelebA-sized JPEGs for the 64 px rows
    eval_n: int = 10000
    sample_n: int = 10000
    ddp: tuple = ("--minutes", "0.25")
    pytest_paths: tuple = ("tests",)
    timeouts: tuple = (("tests", 150), ("train", 90), ("compile", 180), ("ddp", 120), ("sample", 60), ("eval", 120))
    budget: float = 450.0  # seconds for all checks together (a lent GPU call has 8 minutes)
    quick: bool = False

    def timeout(self, kind: str) -> float:
        return dict(self.timeouts)[kind]


QUICK = Plan(
    batch=32,
    warmup=0.0,
    seconds=1.5,
    jpegs=64,
    eval_n=500,
    sample_n=1000,
    ddp=("--steps", "4", "--model-option", "width=16", "--batch-size", "32", "--precision", "fp32", "--log-every", "2"),
    pytest_paths=("tests/test_cuda_paths.py",),
    timeouts=(("tests", 60), ("train", 60), ("compile", 60), ("ddp", 60), ("sample", 60), ("eval", 60)),
    budget=240.0,
    quick=True,
)


# --- the plan of rows, the run, the table ---------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table; ``key`` names it for --skip (its words: tests, train, 28, 64, fp32, bf16, compile,
    ddp, sample, eval)."""

    check: str
    setting: str
    key: str
    kind: str  # which timeout (Plan.timeouts)
    run: object = None  # the check, given the Context
    status: str = "ok"
    result: str = ""
    peak_mb: float | None = None
    peak_kind: str = ""
    seconds: float | None = None


def plan_rows(ctx: Context) -> list[Row]:
    """The rows in the order they run (the --compile rows last: they take longest)."""
    wanted_backend = "nccl" if ctx.cuda else "gloo"
    rows = [Row("cuda tests", "pytest -m cuda " + " ".join(ctx.plan.pytest_paths), "tests", "tests", check_tests)]
    for compiled in (False, True):
        for shape in (28, 64):
            for precision in ("bf16",) if compiled else ("fp32", "bf16"):
                setting = f"{precision}" + (" + --compile" if compiled else "")
                rows.append(
                    Row(
                        f"train {shape} px",
                        setting,
                        f"train {shape} {precision}" + (" compile" if compiled else ""),
                        "compile" if compiled else "train",
                        partial(check_train, shape=shape, precision=precision, compiled=compiled),
                    )
                )
        if not compiled:
            rows += [
                Row("DDP, 1 process", f"train --nproc 1 ({wanted_backend})", "ddp", "ddp", check_ddp),
                Row("sample", f"{ctx.plan.sample_n:,} images, 28 px", "sample", "sample", check_sample),
                Row("eval", f"eval_speed stages, n={ctx.plan.eval_n:,}", "eval", "eval", check_eval),
            ]
    return rows


def skip_reason(ctx: Context, row: Row, skip: set[str]) -> str | None:
    words = set(row.key.split())
    if words & skip:
        return f"skipped: --skip {','.join(sorted(words & skip))}"
    if not ctx.cuda and ctx.plan.quick and words & {"bf16", "compile"}:
        return "skipped: no CUDA (--quick on the CPU: fp32 rows only)"
    return None


def run_rows(ctx: Context, rows: list[Row], skip: set[str]) -> None:
    """Each row's check in a process of its own, under min(its timeout, the time left of the budget)."""
    deadline = time.monotonic() + ctx.plan.budget
    for i, row in enumerate(rows, 1):
        reason = skip_reason(ctx, row, skip)
        left = deadline - time.monotonic()
        if reason is None and left < 5:
            row.status, row.result = "FAILED", f"not run: the --budget of {ctx.plan.budget:g} s was spent"
            continue
        if reason is not None:
            row.status, row.result = "skipped", reason
            continue
        print(f"[{i}/{len(rows)}] {row.check}, {row.setting} ...", end=" ", file=sys.stderr, flush=True)
        log = ctx.work / f"{i:02d}-{re.sub(r'[^a-z0-9]+', '-', row.key)}.log"
        start = time.monotonic()
        status, payload = isolated(partial(row.run, ctx), min(ctx.plan.timeout(row.kind), left), log)
        row.seconds = time.monotonic() - start
        if status == "ok":
            row.status = payload.get("status", "ok")
            row.result, row.peak_mb, row.peak_kind = payload["result"], payload.get("peak_mb"), payload.get("peak_kind")
        else:
            row.status, row.result = "FAILED", f"FAILED: {payload}"
        print(f"{row.result} ({row.seconds:.1f} s)", file=sys.stderr, flush=True)


def table(ctx: Context, rows: list[Row]) -> str:
    lines = ["| check | setting | result | peak memory | time |", "|---|---|---|---|---|"]
    for row in rows:
        memory = f"{row.peak_mb:,.0f} MiB {row.peak_kind}" if row.peak_mb is not None else ""
        took = f"{row.seconds:.1f} s" if row.seconds is not None else ""
        lines.append(f"| {row.check} | {row.setting} | {row.result.replace('|', '/')} | {memory} | {took} |")
    status, result = peak_row(ctx, rows)
    lines.append(f"| peak memory | torch.cuda.max_memory_allocated, largest of the checks | {result} | | |")
    return "\n".join(lines)


def peak_row(ctx: Context, rows: list[Row]) -> tuple[str, str]:
    """(status, result) of the last row: the largest CUDA peak of the checks, and which check had it."""
    peaks = [row for row in rows if row.peak_kind == "CUDA" and row.peak_mb is not None]
    if peaks:
        top = max(peaks, key=lambda row: row.peak_mb)
        return "ok", f"{top.peak_mb:,.0f} MiB ({top.check}, {top.setting})"
    if not ctx.cuda:
        return "skipped", "skipped: no CUDA"
    return "FAILED", "FAILED: no check reported its CUDA peak"


def probe(device: str, work: Path) -> dict:
    """What torch sees here, asked in a forked process: this one must not touch CUDA before it forks the checks."""

    def ask() -> dict:
        import torch

        cuda = torch.cuda.is_available()
        name = torch.cuda.get_device_name(0) if cuda else ""
        return {"result": "", "cuda": cuda, "name": name, "torch": torch.__version__}

    status, found = isolated(ask, 120, work / "00-probe.log")
    if status != "ok":
        raise SystemExit(f"error: could not start torch: {found}")
    if device == "auto":
        device = "cuda" if found["cuda"] else "cpu"
    if device.startswith("cuda") and not found["cuda"]:
        raise SystemExit(
            "error: --device cuda: torch sees no CUDA device here (--device cpu --quick: the CPU smoke test)"
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise SystemExit(f"error: --device {device}: expected auto, cuda[:N] or cpu")
    return {**found, "device": device}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (default: cuda when present), cuda or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny settings: the CPU smoke test (well under a minute)")
    parser.add_argument("--skip", default="", help="rows to leave out, by word: tests,ddp,compile,64,bf16,sample,eval")
    parser.add_argument("--budget", type=float, help="seconds for all checks (default 450; --quick 240)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) even when nothing failed")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    if args.budget is not None:
        plan = replace(plan, budget=args.budget)
    work = Path(tempfile.mkdtemp(prefix="ganstudio-gpu-check-"))
    try:
        found = probe(args.device, work)
    except SystemExit:
        shutil.rmtree(work, ignore_errors=True)
        raise
    ctx = Context(found["device"], plan, work)
    # Every check's own cache (the 64 px JPEGs' prepared images) and no installed plugins: a clean, repeatable run.
    os.environ.update(GANSTUDIO_CACHE=str(work / "cache"), GANSTUDIO_NO_ENTRY_POINTS="1", PYTHONUNBUFFERED="1")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    rows = plan_rows(ctx)
    run_rows(ctx, rows, {word for word in args.skip.split(",") if word})
    where = f"GPU {found['name']}" if ctx.cuda else "CPU"
    mode = "--quick (smoke test)" if args.quick else "full"
    text = f"gpu_check on {where}, torch {found['torch']}, device {ctx.device}, {mode}\n\n{table(ctx, rows)}\n"
    print(text)
    if args.markdown:
        atomic_write_text(args.markdown, text)
    failed = [row for row in rows if row.status == "FAILED"] or peak_row(ctx, rows)[0] == "FAILED"
    if failed or args.keep:
        print(f"logs of every check: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
