"""The ``wandb`` callback (off by default): the run in Weights & Biases, as config, metrics, grids and files.

    pip install 'ganstudio[wandb]'
    ganstudio train --data fashion --minutes 10 --with wandb --wandb-project my-gans
    WANDB_MODE=offline ganstudio train ... --with wandb     # no account or network: `wandb sync` later

The run's config becomes the W&B config, every record of metrics.jsonl is logged at its step (same names), each
grid is the image ``samples``, curves.png and timeline.gif the images ``curves`` and ``timeline`` at the last step;
the summary holds ``checkpoint`` (the final checkpoint's path) and ``status`` (FINISHED, FAILED or KILLED), and the
run's exit code is 0, 1 or 130. --resume continues the same W&B run (its id is kept in the checkpoint). The project
is --wandb-project, else $WANDB_PROJECT, else "ganstudio"; W&B's own variables (WANDB_MODE, WANDB_DIR, WANDB_ENTITY,
WANDB_BASE_URL, WANDB_API_KEY) apply. Without wandb, or online without a login or a server that answers, the command
stops before training with one line; a failure later is one warning, and training goes on.
"""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from ganstudio import hookimpl, limits
from ganstudio.api import CallbackPlugin, option
from ganstudio.builtin.callbacks.tracking import TrackerCallback, check_reachable, one_line
from ganstudio.errors import GanstudioError

EXIT_CODES = {"FINISHED": 0, "FAILED": 1, "KILLED": 130}  # W&B has no "killed": 130 is a shell's exit on Ctrl-C
OFFLINE = ("offline", "dryrun", "disabled")


@dataclass
class WandbOptions:
    project: Optional[str] = option(None, "W&B project of the run (else $WANDB_PROJECT, else ganstudio)")


def import_wandb():
    try:
        import wandb
    except ImportError:
        raise GanstudioError(
            "callback 'wandb' needs the wandb package: pip install 'ganstudio[wandb]' (or leave it out of --callbacks)"
        ) from None
    return wandb


def logged_in(base_url: str) -> bool:
    """An API key in $WANDB_API_KEY or in the netrc file `wandb login` writes (checked without the network)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        entries = netrc.netrc(os.environ.get("NETRC") or None)
    except (OSError, netrc.NetrcParseError):
        return False
    return entries.authenticators(urlparse(base_url).hostname or "") is not None


class WandbCallback(TrackerCallback):
    name = "wandb"

    def __init__(self, options: WandbOptions):
        super().__init__()
        self.wandb = import_wandb()  # fails before training starts, not at the first record
        self.project = options.project or os.environ.get("WANDB_PROJECT") or "ganstudio"
        self.wrun = None
        if os.environ.get("WANDB_MODE", "online").lower() not in OFFLINE:
            base_url = os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"
            if not logged_in(base_url):
                raise GanstudioError(
                    "callback 'wandb': not logged in to W&B: run `wandb login` (or set WANDB_API_KEY), "
                    "or set WANDB_MODE=offline to keep the run in files for a later `wandb sync`"
                )
            check_reachable(base_url, "callback 'wandb': the W&B server")

    def start(self, run, params: dict) -> str:
        wandb = self.wandb
        try:
            self.wrun = wandb.init(
                project=self.project,
                name=run.name,
                id=self.run_id,
                resume="allow" if self.run_id else None,
                settings=wandb.Settings(console="off", silent=True),  # the live view keeps the terminal
            )
            self.wrun.config.update(params, allow_val_change=True)  # a resumed run may have a new --steps target
        except Exception as e:
            if self.wrun is not None:
                self.wrun.finish(exit_code=1)
            raise GanstudioError(f"callback 'wandb' cannot start its run: {one_line(e)}") from None
        return self.wrun.id

    # On the worker thread: one call per record, grid or file.
    def log_metrics(self, step: int, values: dict) -> None:
        self.wrun.log(values, step=step)

    def log_grid(self, step: int, grid) -> None:
        self.wrun.log({"samples": self.wandb.Image(grid, caption=f"step {step:,}")}, step=step)

    def log_file(self, path, step: int) -> None:
        self.wrun.log({Path(path).stem: self.wandb.Image(str(path))}, step=step)

    def finish(self, status: str, checkpoint) -> None:
        if checkpoint is not None:
            self.wrun.summary["checkpoint"] = limits.clean_text(checkpoint, limits.PATH_CHARS)
        self.wrun.summary["status"] = status
        self.wrun.finish(exit_code=EXIT_CODES[status])


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "wandb",
            WandbCallback,
            "the run in Weights & Biases: config, metrics, grids, curves, GIF (needs: pip install 'ganstudio[wandb]')",
            default=False,
            options=WandbOptions,
        )
    )
