"""`make demo`: its command lines, as make expands them, parse with the real CLI and train to a step target."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from ganstudio.cli import build_parser
from ganstudio.plugins import load_plugins

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def demo_lines(*overrides: str) -> list[str]:
    """The recipe lines `make demo` would run (make -n runs none of them)."""
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), "demo", *overrides],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.replace("\\\n", " ").splitlines()  # a continued line is one shell command


def ganstudio_commands(lines: list[str]) -> list[list[str]]:
    """The ganstudio invocations among the lines, as argument lists without the program."""
    words = [without_environment(shlex.split(line)) for line in lines if line.strip()]
    return [w[1:] for w in words if w and Path(w[0]).name == "ganstudio"]


def without_environment(words: list[str]) -> list[str]:
    """A shell command without its leading VAR=value assignments."""
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words = words[1:]
    return words


def parse(argv: list[str]):
    return build_parser(load_plugins(None, entry_points=False, local=False)).parse_args(argv)


def variable(name: str) -> str:
    match = re.search(rf"^{name} \?= (\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile has no '{name} ?= ...' line"
    return match.group(1)


def test_demo_trains_dcgan_to_a_step_target_with_a_time_cap_only_as_a_safety_net():
    train, *rest = ganstudio_commands(demo_lines())
    args = parse(train)
    assert args.command == "train" and args.model == "dcgan" and args.data == "fashion"
    assert args.steps == int(variable("DEMO_STEPS")) and args.minutes == float(variable("DEMO_MINUTES"))
    assert args.overwrite and args.name == "demo" and args.grid_every
    # The cap is generous: at the slowest speed measured for the demo (docs/models.md, about 1 step/s on a
    # loaded 2-core machine) the step target still comes first.
    assert args.minutes * 60 >= args.steps
    # ... and it is at or past where the model makes recognisable images, so the train summary stays quiet.
    needed = load_plugins(None, entry_points=False, local=False).model("dcgan").recognisable_steps
    assert needed is not None and args.steps >= needed


def test_demo_variables_reach_every_command():
    commands = ganstudio_commands(demo_lines("DEMO_STEPS=123", "DEMO_MINUTES=7", "DEMO_NAME=mine"))
    parsed = [parse(argv) for argv in commands]
    train, sample = parsed[0], parsed[1]
    assert (train.steps, train.minutes, train.name) == (123, 7.0, "mine")
    assert sample.command == "sample" and sample.run == "mine" and sample.n == 144
    assert sample.out == "samples/mine/grid.png"


def test_demo_ends_saying_what_it_made_and_what_to_open_next():
    lines = demo_lines("DEMO_NAME=mine")
    said = " ".join(line for line in lines if line.startswith("echo"))
    assert "samples/mine/grid.png" in said and "samples/mine/timeline.gif" in said
    nexts = re.findall(r"ganstudio (\w+ mine)", said)
    assert {n.split()[0] for n in nexts} >= {"eval", "report"}
    for argv in nexts:  # the commands it suggests are real ones
        assert parse(argv.split()).command in ("eval", "report")


def test_docs_state_the_recognisable_steps_each_model_registers():
    """docs/models.md measured them: each built-in model's number is the one written there, and the demo's model
    and the default of --data fashion have one."""
    models = load_plugins(None, entry_points=False, local=False).models
    docs = (REPO / "docs" / "models.md").read_text()
    assert models["dcgan"].recognisable_steps and models["cdcgan"].recognisable_steps
    unmeasured = next(p for p in docs.split("\n\n") if "recognisable_steps=None" in p)
    for name in ("dcgan", "cdcgan", "wgan-gp", "sngan"):
        steps = models[name].recognisable_steps
        if steps is None:
            assert f"`{name}`" in unmeasured, f"docs/models.md does not say {name} keeps recognisable_steps=None"
        else:
            assert f"`{name}` has `recognisable_steps={steps}`" in docs, f"docs/models.md does not give {name}'s"


def test_a_step_target_and_a_time_cap_end_the_run_at_whichever_comes_first():
    """What the demo relies on: --steps ends it on a quick machine, --minutes on one too slow to get there, and the
    ETA is the nearer of the two."""
    import time

    from ganstudio.config import TrainConfig
    from ganstudio.train.budget import Budget

    budget = Budget(TrainConfig(steps=2000, minutes=60), epoch_images=60_000, steps_per_epoch=469)
    assert budget.total_steps == 2000 and not budget.out_of_time()
    assert not budget.reached(1999, 1999 * 128) and budget.reached(2000, 2000 * 128)
    assert budget.eta(1000, 128_000, steps_per_s=10, images_per_s=1280) == pytest.approx(100)  # the steps come first
    assert budget.eta(1000, 128_000, steps_per_s=0.1, images_per_s=12.8) == pytest.approx(3600, abs=1)  # the cap
    slow = Budget(TrainConfig(steps=2000, minutes=0.0005), epoch_images=60_000, steps_per_epoch=469)
    time.sleep(0.05)
    assert slow.out_of_time() and not slow.reached(10, 1280)


def test_demo_trains_on_one_cpu_thread_unless_asked_for_more():
    """Beside another job two torch threads wait on each other (13x slower measured here); the demo takes one."""
    train_line = next(line for line in demo_lines() if " train " in line)
    assert train_line.startswith("OMP_NUM_THREADS=1 ")
    assert next(line for line in demo_lines("DEMO_THREADS=2") if " train " in line).startswith("OMP_NUM_THREADS=2 ")
