"""Every hook a ganstudio plugin can implement. Docs with exact signatures: docs/plugins.md.

Registration hooks are called once, when plugins load. Lifecycle hooks are called by the training
loop with keyword arguments; an implementation may accept any subset of them (never give a
hookimpl parameter a default value: pluggy would not pass the real one).
"""

import pluggy

hookspec = pluggy.HookspecMarker("ganstudio")


# --- registration ------------------------------------------------------------------------------


@hookspec
def register_datasets(register):
    """Register dataset plugins: ``register(DatasetPlugin(name=..., load=..., ...))``."""


@hookspec
def register_models(register):
    """Register model plugins: ``register(ModelPlugin(name=..., build=..., kind=...))``."""


@hookspec
def register_callbacks(register):
    """Register callbacks: ``register(CallbackPlugin(name=..., factory=...))``; enabled ones join the run."""


@hookspec
def register_feature_extractors(register):
    """Register feature spaces for eval: ``register(FeatureExtractor(name=..., load=..., input_size=...))``."""


@hookspec
def register_commands(cli):
    """Add subcommands: ``cli.command(name, help=...)`` returns an argparse parser; set ``run=`` on it."""


# --- training lifecycle (kedro-style names, called with keyword arguments) ----------------------
# ``run`` is always the run's ganstudio.api.RunView.


@hookspec
def before_training_run(run):
    """Called once before the first step of an invocation (also after a resume, with the callbacks' state restored)."""


@hookspec
def after_training_step(run, step):
    """Called after every training step, before any host sync: keep it cheap (an EMA update, a schedule check)."""


@hookspec
def after_metrics_logged(run, step, metrics):
    """Called every --log-every steps (and at epoch ends) with the complete record: a dict of floats."""


@hookspec
def after_grid_rendered(run, grid, step, epoch_done):
    """Called when the fixed-latent grid was rendered (uint8 (H, W) or (H, W, 3)); ``epoch_done`` is the epoch that
    just ended, or None."""


@hookspec
def after_epoch_run(run, epoch, step):
    """Called after each completed epoch (``epoch`` counts from 1) and after the checkpoint is saved."""


@hookspec
def after_checkpoint_saved(run, path, step):
    """Called after a checkpoint file has been written atomically to ``path``."""


@hookspec
def after_training_run(run, step, reason):
    """Called once when training ends normally; ``reason`` is 'done', 'time budget' or 'interrupted'."""


@hookspec
def on_training_error(run, step, error):
    """Called when training fails with ``error``; the last good state has already been saved."""
