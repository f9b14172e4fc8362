"""Distributed errors are one line (issue 30, item 7): under `train --nproc 2` a bad option is said once, a rank killed
with SIGKILL is named by the launcher, Ctrl-C at startup is "interrupted" and 130; never torchrun's ChildFailedError
block or a traceback, and the checkpoint already saved stays intact. Real processes: the launcher, torchrun, 2 ranks."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=8", "--batch-size", "16")
STARTING = "starting 2 processes: "


def launch(workdir, tiny_idx, *extra):
    command = [sys.executable, "-m", "ganstudio", "train", "--data", "fashion", "--data-root", tiny_idx, *TINY]
    command += [*extra, "--nproc", "2"]
    env = {**os.environ, "GANSTUDIO_NO_ENTRY_POINTS": "1"}
    return subprocess.Popen(
        [str(c) for c in command],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a terminal's Ctrl-C goes to the group
    )


def finish(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def said(err: str) -> list[str]:
    """stderr without the launcher's announcement."""
    return [line for line in err.splitlines() if not line.startswith(STARTING)]


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(stat.parent.name))
                    todo.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def rank_pid(launcher: int, rank: int) -> int:
    for pid in descendants(launcher):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"GANSTUDIO_LAUNCHED=1" in environ:
            return pid
    raise AssertionError(f"no rank {rank} under {launcher}")


def test_a_bad_option_is_said_once_before_any_step(workdir, tiny_idx):
    code, out, err = finish(launch(workdir, tiny_idx, "--model-option", "width=abc", "--steps", "2"))
    assert code != 0
    assert said(err) == ["error: model 'dcgan' option width (integer): expected a whole number, got 'abc'"], err
    assert not (workdir / "checkpoints/fashion-dcgan/last.pt").exists()


def test_a_rank_killed_with_sigkill_is_one_line_naming_it_and_last_pt_is_intact(workdir, tiny_idx):
    process = launch(workdir, tiny_idx, "--steps", "100000", "--callbacks", "log", "--log-every", "2")
    last = workdir / "checkpoints/fashion-dcgan/last.pt"
    deadline = time.monotonic() + 90
    while not last.exists() and time.monotonic() < deadline:  # saved at the end of the first epoch (8 steps)
        time.sleep(0.2)
    os.kill(rank_pid(process.pid, 1), signal.SIGKILL)
    code, out, err = finish(process)
    assert code == 1
    lines = said(err)
    assert len(lines) == 1 and lines[0].startswith("error: rank 1 was killed by SIGKILL"), err
    assert "Traceback" not in err and "ChildFailedError" not in err
    # Intact and at a whole step: the epoch-end save, or the step rank 0 finished before rank 1's death failed the
    # next one (an error between steps saves that step; the README's promise).
    step = load_checkpoint(last)["progress"]["step"]
    assert step >= 8


def test_ctrl_c_while_the_ranks_start_is_interrupted_and_130(workdir, tiny_idx):
    process = launch(workdir, tiny_idx, "--steps", "100000")
    assert process.stderr.readline().startswith(STARTING)
    time.sleep(0.5)  # torchrun starts, the ranks import torch (seconds)
    os.killpg(process.pid, signal.SIGINT)
    code, out, err = finish(process)
    assert (code, said(err)) == (130, ["interrupted"]), err


def test_ctrl_c_during_the_first_imports_is_one_line_too(workdir):
    for delay in (0.03, 0.05, 0.08, 0.12, 0.2):
        process = subprocess.Popen(
            [sys.executable, "-m", "ganstudio", "runs"],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        code, out, err = finish(process)
        frames = [line for line in err.splitlines() if line.strip().startswith("File ")]
        ours = [line for line in frames if f"{os.sep}ganstudio{os.sep}" in line]
        if "init_import_site" in err or (frames and not ours):
            # it came while Python itself started (site.py) or while runpy was still locating the package (importlib,
            # an editable install's finder), before any ganstudio code ran: Python says it (no frame of ours to
            # handle it in)
            continue
        # Before Python's own handler is installed, SIGINT ends the process silently.
        assert code in (130, -signal.SIGINT, 2) and "Traceback" not in err, (delay, err)
        assert len(err.splitlines()) <= 1, (delay, err)


SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : {code0} (pid: 11195)
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : {code1} (pid: 11196)  (SIGKILL)
"""


def rank_logs(tmp_path, **stderr):
    """RankLogs over real stderr files laid out as torchrun writes them; relayed lines go to a list."""
    from ganstudio.train.rank_logs import RankLogs

    for local, text in stderr.items():
        folder = tmp_path / "run_x/attempt_0" / local.removeprefix("r")
        folder.mkdir(parents=True)
        (folder / "stderr.log").write_text(text)
    shown = []
    logs = RankLogs(tmp_path, 2, out=type("Out", (), {"write": lambda _, s: shown.append(s), "flush": lambda _: 0})())
    logs.poll(final=True)
    return logs, "".join(shown).splitlines()


def test_the_one_line_names_the_first_failure_and_relays_the_rest(tmp_path):
    logs, shown = rank_logs(
        tmp_path,
        r0="note: resumes on 2\nrank 0: error: stopped because rank 1: RuntimeError: boom\n",
        r1="rank 1: error: plugin 'p' failed in hook x: RuntimeError: boom\n",
    )
    assert shown == ["note: resumes on 2"]  # notes pass, error lines are held for the one line
    assert (
        logs.why_failed(SUMMARY.format(code0=1, code1=1), 1)
        == "rank 1: plugin 'p' failed in hook x: RuntimeError: boom"
    )
    # Killed outright (no words of its own): torchrun's summary says by what; SIGTERM is torchrun stopping the others.
    assert logs.why_failed(SUMMARY.format(code0=-15, code1=-9), 1).startswith("rank 1 was killed by SIGKILL")


def test_a_rank_dying_before_the_command_runs_is_its_last_line(tmp_path):
    trace = "Traceback (most recent call last):\n  File \"x\", line 1\nModuleNotFoundError: No module named 'pluggy'\n"
    logs, shown = rank_logs(tmp_path, r0="", r1=trace)
    assert shown == []  # the traceback is not relayed
    assert logs.why_failed(SUMMARY.format(code0=-15, code1=1), 1) == (
        "rank 1 exited with status 1: ModuleNotFoundError: No module named 'pluggy'"
    )
    assert logs.why_failed("RendezvousTimeoutError: no peers\n", 1) == (
        "the distributed run failed (torchrun exit status 1): RendezvousTimeoutError: no peers"
    )
