"""Helpers for command plugins: the arguments that choose a run and a class, shared by sample, eval, interpolate,
export and any third-party command."""

from __future__ import annotations


def add_checkpoint_options(p, what: str = "GAN") -> None:
    """The run to read: a name, --checkpoint PATH, or the newest; shared by sample, eval and interpolate."""
    p.add_argument("run", nargs="?", metavar="RUN", help=f"run name under --checkpoints-dir (default: the newest {what} run)")
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint file instead of a run name")
    p.add_argument("--checkpoints-dir", default="checkpoints", metavar="DIR")
    p.add_argument("--no-ema", action="store_true",
                   help="use the raw generator weights, not the averaged (EMA) ones the checkpoint holds")


def add_class_option(p) -> None:
    p.add_argument("--class", dest="class_name", metavar="NAME|INDEX", help="class-conditional models: generate this class")
