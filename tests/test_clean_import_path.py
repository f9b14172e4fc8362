"""No code from the working folder (issue 30, item 1): a pluggy.py, torch.py or ganstudio.py in the folder a command
runs in is never imported by the console script, by `train --nproc` (the launcher, torchrun and every rank), or by
`python -m ganstudio` / `torchrun -m ganstudio` (where only a ganstudio.py can shadow the package: Python's rule).
A plain `import ganstudio` in the user's own script leaves sys.path alone."""

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
TINY = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=8", "--batch-size", "16")
MARKER = "from pathlib import Path\nPath(__file__).with_suffix('.ran').write_text('imported from the working folder')\n"


def plant(folder: Path, *names: str) -> None:
    for name in names:
        (folder / f"{name}.py").write_text(MARKER)


def ran(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.ran"))


def start(command, cwd, **kw):
    env = {**os.environ, "GANSTUDIO_NO_ENTRY_POINTS": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONSAFEPATH", None)
    return subprocess.Popen(
        [str(c) for c in command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def finish(process, timeout=180):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_train_nproc_and_every_console_command_import_nothing_from_the_working_folder(workdir, tiny_idx):
    plant(workdir, "pluggy", "torch", "ganstudio")
    (workdir / "checkpoints").mkdir()  # `runs` lists it
    train = ["train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2", "--callbacks", "log"]
    # The console script for the launcher and the light commands, side by side (a torch import each).
    processes = [start([BIN / "ganstudio", *train, "--nproc", "2"], workdir)]
    processes += [start([BIN / "ganstudio", *c], workdir) for c in (["--help"], ["plugins"], ["runs"])]
    results = [finish(p) for p in processes]
    assert [code for code, _, _ in results] == [0, 0, 0, 0], [err[-2000:] for _, _, err in results]
    assert "distributed: 2 processes" in results[0][1]
    assert ran(workdir) == []


def test_python_m_ganstudio_and_torchrun_m_ganstudio_drop_the_working_folder(workdir):
    # A ganstudio.py here would shadow the package under any `python -m ganstudio` (Python finds it first); the
    # package itself keeps pluggy.py and torch.py out. torchrun is its console script: `python -m torch...` would
    # import ./torch.py in torchrun's own process, before anything of ganstudio runs. signal.py: the package's first
    # lines run while the folder is still on the path, so they import only modules built into Python (_signal).
    plant(workdir, "pluggy", "torch", "signal")
    (workdir / "checkpoints").mkdir()
    torchrun = [BIN / "torchrun", "--standalone", "--nproc-per-node", "1", "-m", "ganstudio", "runs"]
    processes = [start(torchrun, workdir), start([sys.executable, "-m", "ganstudio", "runs"], workdir)]
    results = [finish(p) for p in processes]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    assert ran(workdir) == []


def test_a_plain_import_in_a_users_script_keeps_its_folder_on_the_path(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 7\n")
    (tmp_path / "script.py").write_text("import ganstudio, helper\nprint(helper.VALUE)\n")
    code, out, err = finish(start([sys.executable, "script.py"], tmp_path))
    assert (code, out) == (0, "7\n"), err
    code, out, err = finish(start([sys.executable, "-c", "import sys, ganstudio; print(repr(sys.path[0]))"], tmp_path))
    assert (code, out) == (0, "''\n"), err
