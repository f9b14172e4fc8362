"""One writer per run: a run is locked while it trains, and a new run never silently replaces another's outputs."""

import os

from conftest import FAST

from ganstudio.store.runs import RunLock

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)


def test_a_second_writer_gets_one_line_naming_the_first(cli, workdir, tiny_idx):
    assert cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2")[0] == 0
    holder = RunLock(workdir / "checkpoints/fashion-dcgan", "fashion-dcgan").acquire()  # as a training process would
    try:
        for args in (("--resume", "--steps", "4"), ("--overwrite", "--steps", "2")):
            code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *args)
            assert code == 2 and err.count("\n") == 1
            assert f"run 'fashion-dcgan' is being trained by process {os.getpid()}" in err
    finally:
        holder.release()
    assert cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--resume", "--steps", "4")[0] == 0


def test_a_lock_left_by_a_dead_process_is_not_in_the_way(cli, workdir, tiny_idx):
    lock = workdir / "checkpoints/fashion-dcgan/.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("999999")  # kill -9 leaves the file; the lock itself died with its process
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2")
    assert code == 0, err


def test_another_checkpoints_dir_does_not_replace_a_runs_samples(cli, workdir, tiny_idx):
    assert cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2")[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in (workdir / "samples/fashion-dcgan").iterdir()}
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2", "--checkpoints-dir", "elsewhere"
    )
    assert (
        code == 2 and "samples/fashion-dcgan/ already holds the outputs of another run" in err and err.count("\n") == 1
    )
    assert {p.name: p.stat().st_mtime_ns for p in (workdir / "samples/fashion-dcgan").iterdir()} == before
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        *TINY,
        "--steps",
        "2",
        "--checkpoints-dir",
        "elsewhere",
        "--overwrite",
    )
    assert code == 0, err


def test_a_moment_of_probing_by_runs_or_the_studio_does_not_refuse_a_starting_trainer(tmp_path):
    """`runs` and the studio probe a lock by taking it for a moment; a trainer starting then waits it out."""
    import fcntl
    import threading
    import time

    from ganstudio.store.runs import RunLock

    (tmp_path / ".lock").write_text("")
    probe = open(tmp_path / ".lock", "a+")
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    threading.Thread(target=lambda: (time.sleep(0.2), probe.close())).start()
    lock = RunLock(tmp_path, "probed").acquire()
    assert lock.handle is not None
    lock.release()
