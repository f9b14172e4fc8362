"""The loop's parts through the public contract: batches drawn and counted, schedulers, per-step hooks, metrics
reported by name, callback state, hook wrappers, fp16 overflow, the budget."""

from dataclasses import dataclass

import pytest
import torch

import tiny_models
from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, Metric, RunView, option
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.train.metric_window import DivergenceError, MetricWindow
from ganstudio.testing import plugins_with, synthetic_data, train_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_step_draws_what_it_needs_and_epochs_count_images(tmp_path):
    plugins = plugins_with(tiny_models, data=synthetic_data(64))
    run = train_run(plugins, tmp_path, "tiny", 6, options={"batches_per_step": 3})  # 64 images: 4 batches of 16
    assert run.images_seen == 6 * 3 * 16
    assert run.epoch == pytest.approx(6 * 3 / 4)
    ckpt = load_checkpoint(run.checkpoint_path)
    assert ckpt["progress"]["images_seen"] == 288
    # An epoch target counts images: 3 epochs of 4 batches at 3 batches a step is 4 steps.
    from ganstudio.train.loop import fit
    from ganstudio.train.run import open_run

    config = run.config
    config.steps, config.epochs, config.name = None, 3, "by-epochs"
    by_epochs = open_run(config, plugins, resume=False, overwrite=True)
    fit(by_epochs, plugins)
    assert by_epochs.step == 4 and by_epochs.images_seen == 3 * 64


def test_schedulers_step_each_training_step_and_resume_exactly(tmp_path):
    plugins = plugins_with(tiny_models)
    straight = train_run(plugins, tmp_path / "a", "tiny", 7)
    train_run(plugins, tmp_path / "b", "tiny", 4)
    resumed = train_run(plugins, tmp_path / "b", "tiny", 7, resume=True)
    assert straight.optimizers["g"].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 2)  # StepLR(3) after 7 steps
    assert resumed.optimizers["g"].param_groups[0]["lr"] == straight.optimizers["g"].param_groups[0]["lr"]
    assert load_checkpoint(resumed.checkpoint_path)["state"]["schedulers"]["g"]["last_epoch"] == 7
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


@dataclass
class ProbeOptions:
    level: int = option(1, "how loud", min=0)


class Probe:
    """Counts steps, reports a tensor and (every 3rd step) a float; keeps a state."""

    def __init__(self, options):
        self.level = options.level
        self.steps = 0
        self.logged = []

    @hookimpl
    def after_training_step(self, run, step):
        assert isinstance(run, RunView) and not hasattr(run, "optimizers")
        self.steps += 1
        run.report("probe_tensor", torch.tensor(float(step)))
        if step % 3 == 0:
            run.report("probe_score", float(step * self.level))

    # Logged first among the consumers whatever the registration order: the record must be complete already.
    @hookimpl(tryfirst=True)
    def after_metrics_logged(self, step, metrics):
        self.logged.append((step, metrics.get("probe_score")))

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


class ProbePlugin:
    instances = []

    @hookimpl
    def register_callbacks(self, register):
        def make(options):
            probe = Probe(options)
            ProbePlugin.instances.append(probe)
            return probe

        register(CallbackPlugin("probe", make, "test probe", default=False, options=ProbeOptions,
                                metrics={"probe_score": Metric("probe", "probe", points=True)}))


def test_callbacks_run_every_step_report_by_name_and_keep_state(tmp_path):
    ProbePlugin.instances.clear()
    plugins = plugins_with(tiny_models, ProbePlugin())
    run = train_run(plugins, tmp_path, "tiny", 7, callbacks=["probe", "log"], callback_options={"probe": {"level": "2"}})
    probe = ProbePlugin.instances[-1]
    assert probe.steps == 7 and probe.level == 2
    # log_every is 1 in train_run; every record holds this step's values, and floats land at their own step.
    assert [s for s, v in probe.logged if v is not None] == [3, 6]
    assert dict(probe.logged)[6] == 12.0
    records = {r["step"]: r for r in run.history}
    assert records[5]["probe_tensor"] == 5.0 and records[6]["probe_score"] == 12.0
    assert load_checkpoint(run.checkpoint_path)["callbacks"]["probe"] == {"steps": 7}
    train_run(plugins, tmp_path, "tiny", 9, resume=True, callbacks=["probe"], callback_options={"probe": {"level": "2"}})
    assert ProbePlugin.instances[-1].steps == 7 + 2, "the state came back on resume"


def test_callback_options_are_checked_in_one_line(tmp_path):
    from ganstudio.errors import GanstudioError

    plugins = plugins_with(tiny_models, ProbePlugin())
    with pytest.raises(GanstudioError, match=r"^callback 'probe' option level \(integer\): expected a whole number, got 'x'$"):
        train_run(plugins, tmp_path, "tiny", 1, callbacks=["probe"], callback_options={"probe": {"level": "x"}})
    with pytest.raises(GanstudioError, match=r"option level \(integer\): expected at least 0, got -1"):
        train_run(plugins, tmp_path, "tiny", 1, callbacks=["probe"], callback_options={"probe": {"level": "-1"}})


class Wrapper:
    calls = []

    @hookimpl(wrapper=True)
    def after_metrics_logged(self, step):
        Wrapper.calls.append(("before", step))
        result = yield
        Wrapper.calls.append(("after", step))
        return result


def test_hook_wrappers_run_because_hooks_go_through_pluggy(tmp_path):
    Wrapper.calls.clear()
    train_run(plugins_with(tiny_models, Wrapper()), tmp_path, "tiny", 2)
    assert Wrapper.calls == [("before", 1), ("after", 1), ("before", 2), ("after", 2)]


def test_an_fp16_overflow_skips_the_step_instead_of_stopping_the_run(tmp_path, monkeypatch):
    """The CPU GradScaler stands in for CUDA's: the step whose loss is infinite is skipped and logged."""
    from ganstudio.train.accel import Precision

    monkeypatch.setattr(Precision, "grad_scaler", lambda self, device: torch.amp.GradScaler("cpu", init_scale=2.0 ** 10))
    run = train_run(plugins_with(tiny_models), tmp_path, "tiny", 5, options={"overflow_at": 2})
    assert run.step == 5
    skipped = [r for r in run.history if r.get("fp16_skipped_steps")]
    assert [r["step"] for r in skipped] == [3] and "loss" not in skipped[0]
    assert run.model.grad_scaler.get_scale() == 2.0 ** 9


def test_metric_window_averages_with_one_sync_and_catches_divergence():
    window = MetricWindow(0, 0)
    window.add({"loss": torch.tensor(1.0)})
    window.add({"loss": torch.tensor(3.0)}, skipped=torch.tensor(False))
    record = window.flush(2, 64, 0.5)
    assert record["loss"] == 2.0 and record["step"] == 2 and "fp16_skipped_steps" not in record
    window.add({"loss": torch.tensor(float("nan"))})
    with pytest.raises(DivergenceError, match="loss=nan in steps 3-3"):
        window.flush(3, 96, 0.75)
    assert MetricWindow(0, 0).flush(0, 0, 0.0) is None


class Failing(tiny_models.TinyGAN):
    """Updates its weights, then fails in the middle of its fourth step (as an out-of-memory would)."""

    def training_step(self, batches, optimizers, context):
        metrics = super().training_step(batches, optimizers, context)
        if context.step == 3:
            raise RuntimeError("CUDA out of memory (simulated)")
        return metrics


class FailingPlugin:
    @hookimpl
    def register_models(self, register):
        from ganstudio.api import ModelPlugin

        register(ModelPlugin("failing", Failing))


def test_an_error_in_the_middle_of_a_step_never_replaces_the_last_good_state(tmp_path):
    plugins = plugins_with(FailingPlugin())
    train_run(plugins, tmp_path, "failing", 2)  # last.pt at step 2
    good = load_checkpoint(tmp_path / "checkpoints/contract/last.pt")["state"]["model"]
    with pytest.raises(RuntimeError, match="out of memory"):
        train_run(plugins, tmp_path, "failing", 8, resume=True)
    kept = load_checkpoint(tmp_path / "checkpoints/contract/last.pt")
    assert kept["progress"]["step"] == 2 and all(torch.equal(v, kept["state"]["model"][k]) for k, v in good.items())
