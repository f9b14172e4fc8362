"""The loop's parts through the public contract: batches drawn and counted, schedulers, per-step hooks, metrics
reported by name, callback state, hook wrappers, fp16 overflow, the budget."""

from dataclasses import dataclass

import pytest
import tiny_models
import torch

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, Metric, ModelPlugin, RunView, option
from ganstudio.errors import DivergenceError
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import plugins_with, synthetic_data, train_run
from ganstudio.train.metric_window import MetricWindow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_step_draws_what_it_needs_and_epochs_count_images(tmp_path):
    plugins = plugins_with(tiny_models, data=synthetic_data(64))
    run = train_run(plugins, tmp_path, "tiny", 6, options={"batches_per_step": 3})  # 64 images: 4 batches of 16
    assert run.images_seen == 6 * 3 * 16
    assert run.epoch == pytest.approx(6 * 3 / 4)
    ckpt = load_checkpoint(run.checkpoint_path)
    assert ckpt["progress"]["images_seen"] == 288
    # An epoch target counts images: 3 epochs of 4 batches at 3 batches a step is 4 steps.
    from ganstudio.train.entry import train

    config = run.config
    config.steps, config.epochs, config.name = None, 3, "by-epochs"
    by_epochs, _ = train(config, plugins, overwrite=True)
    assert by_epochs.step == 4 and by_epochs.images_seen == 3 * 64


def test_schedulers_step_each_training_step_and_resume_exactly(tmp_path):
    plugins = plugins_with(tiny_models)
    straight = train_run(plugins, tmp_path / "a", "tiny", 7)
    train_run(plugins, tmp_path / "b", "tiny", 4)
    resumed = train_run(plugins, tmp_path / "b", "tiny", 7, resume=True)
    assert straight.optimizers["g"].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)  # StepLR(3) after 7 steps
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

        register(
            CallbackPlugin(
                "probe",
                make,
                "test probe",
                default=False,
                options=ProbeOptions,
                metrics={"probe_score": Metric("probe", "probe", points=True)},
            )
        )


def test_callbacks_run_every_step_report_by_name_and_keep_state(tmp_path):
    ProbePlugin.instances.clear()
    plugins = plugins_with(tiny_models, ProbePlugin())
    run = train_run(
        plugins, tmp_path, "tiny", 7, callbacks=["probe", "log"], callback_options={"probe": {"level": "2"}}
    )
    probe = ProbePlugin.instances[-1]
    assert probe.steps == 7 and probe.level == 2
    # log_every is 1 in train_run; every record holds this step's values, and floats land at their own step.
    assert [s for s, v in probe.logged if v is not None] == [3, 6]
    assert dict(probe.logged)[6] == 12.0
    records = {r["step"]: r for r in run.history}
    assert records[5]["probe_tensor"] == 5.0 and records[6]["probe_score"] == 12.0
    assert load_checkpoint(run.checkpoint_path)["callbacks"]["probe"] == {"steps": 7}
    train_run(
        plugins, tmp_path, "tiny", 9, resume=True, callbacks=["probe"], callback_options={"probe": {"level": "2"}}
    )
    assert ProbePlugin.instances[-1].steps == 7 + 2, "the state came back on resume"


def test_callback_options_are_checked_in_one_line(tmp_path):
    from ganstudio.errors import GanstudioError

    plugins = plugins_with(tiny_models, ProbePlugin())
    with pytest.raises(
        GanstudioError, match=r"^callback 'probe' option level \(integer\): expected a whole number, got 'x'$"
    ):
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

    monkeypatch.setattr(Precision, "grad_scaler", lambda self, device: torch.amp.GradScaler("cpu", init_scale=2.0**10))
    run = train_run(plugins_with(tiny_models), tmp_path, "tiny", 5, options={"overflow_at": 2})
    assert run.step == 5
    skipped = [r for r in run.history if r.get("fp16_skipped_steps")]
    assert [r["step"] for r in skipped] == [3] and "loss" not in skipped[0]
    assert run.model.grad_scaler.get_scale() == 2.0**9


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


class Snapshots:
    views = []

    @hookimpl
    def after_training_step(self, run, step):
        Snapshots.views.append(run)


def test_each_hook_gets_a_frozen_snapshot_of_the_run_with_a_public_config(tmp_path):
    from dataclasses import FrozenInstanceError

    from ganstudio.api.images import to_uint8
    from ganstudio.api.run_view import RunConfig

    Snapshots.views.clear()
    train_run(plugins_with(tiny_models, Snapshots()), tmp_path, "tiny", 3)
    first, last = Snapshots.views[0], Snapshots.views[-1]
    assert [view.step for view in Snapshots.views] == [1, 2, 3], "each view is the run at its own hook call"
    assert first.total_steps == 3 and first.fraction == pytest.approx(1 / 3) and last.images_seen == 3 * 2 * 16
    assert isinstance(first.config, RunConfig) and first.config.batch_size == 16 and first.config.log_every == 1
    assert not hasattr(first.config, "callbacks") and not hasattr(first, "window") and not hasattr(first, "budget")
    with pytest.raises(FrozenInstanceError):
        first.step = 10
    as_float = last.generate(last.fixed_latents[:2], as_float=True)
    assert as_float.dtype == torch.float32 and -1 <= as_float.min() and as_float.max() <= 1
    assert torch.equal(to_uint8(as_float), last.generate(last.fixed_latents[:2]))


class ContextRecorder(tiny_models.TinyGAN):
    totals = []

    def training_step(self, batches, optimizers, context):
        ContextRecorder.totals.append(context.total_steps)
        return super().training_step(batches, optimizers, context)


class RecorderPlugin:
    @hookimpl
    def register_models(self, register):
        register(ModelPlugin("tiny-ctx", ContextRecorder, description="records its StepContext"))


@pytest.mark.parametrize("target, total", [({"steps": 5}, 5), ({"epochs": 2}, 2 * 4), ({"minutes": 0.002}, None)])
def test_a_step_knows_the_planned_length_of_the_run(tmp_path, target, total):
    """64 images in batches of 16: 4 steps an epoch at one batch a step; --minutes alone plans no length in steps."""
    from ganstudio.config import DataSpec, TrainConfig
    from ganstudio.train.entry import train

    ContextRecorder.totals.clear()
    config = TrainConfig(
        data=DataSpec("contract-data"),
        model="tiny-ctx",
        batch_size=16,
        device="cpu",
        callbacks=[],
        checkpoints_dir=str(tmp_path / "c"),
        samples_dir=str(tmp_path / "s"),
        **target,
    )
    run, code = train(config, plugins_with(tiny_models, RecorderPlugin(), data=synthetic_data(64)))
    assert code == 0 and run.step > 0 and set(ContextRecorder.totals) == {total}


class FailsAtStart:
    @hookimpl
    def before_training_run(self, run):
        raise RuntimeError("no")


def test_the_run_releases_its_lock_however_training_ends(tmp_path):
    from ganstudio.errors import PluginError
    from ganstudio.store.runs import RunLock

    with pytest.raises(PluginError, match="before_training_run"):
        train_run(plugins_with(tiny_models, FailsAtStart()), tmp_path, "tiny", 2)
    run = train_run(plugins_with(tiny_models), tmp_path, "tiny", 2)
    RunLock(run.run_dir, "contract").acquire().release()  # free again: nobody holds it
