"""What a run is configured by: ``TrainConfig`` and its ``DataSpec``, every default once, each field with its role on
--resume. Plain data, no torch: every package may import it (train, the CLI, runs/report, checkpoints, the API).

Field roles (metadata "role"): "run" defines the run and is kept on --resume; "located" says where to find the data
and is kept on --resume unless given again; "invocation" only says how to run this command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Optional

RUN, LOCATED, INVOCATION = {"role": "run"}, {"role": "located"}, {"role": "invocation"}
DEFAULT_EPOCHS = 5  # the run's length when none of --epochs/--steps/--minutes is given


@dataclass
class DataSpec:
    name: str = field(default="fashion", metadata=RUN)  # the dataset plugin
    root: Optional[str] = field(default=None, metadata=LOCATED)  # --data-root
    download: bool = field(default=False, metadata=LOCATED)  # --download: the only way anything is downloaded
    image_size: Optional[int] = field(default=None, metadata=RUN)
    channels: Optional[int] = field(default=None, metadata=RUN)
    options: dict = field(default_factory=dict, metadata=RUN)  # --data-option KEY=VALUE, as given

    @classmethod
    def from_args(cls, args, default: Optional[str] = None) -> "DataSpec":
        return cls(
            name=getattr(args, "data", None) or default or cls.name,
            root=getattr(args, "data_root", None),
            download=bool(getattr(args, "download", False)),
            image_size=getattr(args, "image_size", None),
            channels=getattr(args, "channels", None),
            options=dict(getattr(args, "data_option", None) or []),
        )

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainConfig:
    data: DataSpec = field(default_factory=DataSpec, metadata=RUN)
    model: str = field(default="dcgan", metadata=RUN)
    model_options: dict = field(default_factory=dict, metadata=RUN)  # --model-option KEY=VALUE, as given
    name: Optional[str] = field(default=None, metadata=RUN)  # run name; default "<data>-<model>"
    batch_size: int = field(default=128, metadata=RUN)
    seed: int = field(default=0, metadata=RUN)
    precision: str = field(
        default="auto", metadata=RUN
    )  # auto: bf16 where the hardware runs it natively, else fp32 (accel.py)
    grid_samples: int = field(
        default=64, metadata=RUN
    )  # size of the fixed-noise grid (conditional: about this many, a row per class)
    ema_decay: float = field(
        default=0.0, metadata=RUN
    )  # generator EMA (ema.py) for all outputs; train sets the model's own (ModelPlugin.ema_decay) when none is given
    augment: str = field(
        default="off", metadata=RUN
    )  # DiffAugment policy before D (augment.py): off, on, ada, or a list of ops
    ada_target: float = field(default=0.6, metadata=RUN)  # --augment ada: the r_t that p steers D to (ada.py)
    epochs: Optional[int] = field(
        default=None, metadata=INVOCATION
    )  # total epochs of the run (resumed runs count those done)
    steps: Optional[int] = field(default=None, metadata=INVOCATION)  # total training steps of the run
    minutes: Optional[float] = field(default=None, metadata=INVOCATION)  # wall-clock budget of this invocation
    device: str = field(default="auto", metadata=INVOCATION)  # auto picks CUDA when present
    compile: bool = field(
        default=False, metadata=INVOCATION
    )  # torch.compile: pays off on long GPU runs, costs minutes on CPU
    sync_batchnorm: bool = field(
        default=False, metadata=INVOCATION
    )  # under torchrun: batch-norm statistics over all ranks
    checkpoints_dir: str = field(default="checkpoints", metadata=INVOCATION)
    samples_dir: str = field(default="samples", metadata=INVOCATION)
    log_every: int = field(default=10, metadata=INVOCATION)  # steps between host syncs: metrics, NaN check, view, hooks
    grid_every: Optional[int] = field(
        default=None, metadata=INVOCATION
    )  # fixed-noise grid every N steps (besides epoch ends)
    save_every_minutes: float = field(default=5.0, metadata=INVOCATION)  # periodic checkpoint besides epoch ends
    callbacks: Optional[list] = field(default=None, metadata=INVOCATION)  # None: every callback whose default is on
    disabled_callbacks: list = field(default_factory=list, metadata=INVOCATION)
    callback_options: dict = field(default_factory=dict, metadata=INVOCATION)  # {"gif": {"fps": "8"}}, as given

    @classmethod
    def default(cls, name: str):
        """The default of field ``name`` (e.g. ``TrainConfig.default("batch_size")``), for --help texts and options
        that must know whether they were given."""
        return cls.__dataclass_fields__[name].default

    @property
    def run_name(self) -> str:
        return self.name or f"{self.data.name}-{self.model}"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        if isinstance(values.get("data"), dict):
            values["data"] = DataSpec.from_dict(values["data"])
        return cls(**values)


def resumed_config(stored, given):
    """The config of a resumed run: "run" fields from the checkpoint, "invocation" fields from this command,
    "located" fields from this command when given there, else from the checkpoint."""
    merged = {}
    for f in dataclasses.fields(stored):
        old, new = getattr(stored, f.name), getattr(given, f.name)
        role = f.metadata.get("role")
        if dataclasses.is_dataclass(old):
            merged[f.name] = resumed_config(old, new)
        elif role == INVOCATION["role"] or (role == LOCATED["role"] and new not in (None, False)):
            merged[f.name] = new
        else:
            merged[f.name] = old
    return type(stored)(**merged)


def ignored_on_resume(stored: TrainConfig, given: TrainConfig, names) -> list[str]:
    """The options given on the command line (``names``: field names, "data.<field>" for the data spec) that a
    resumed run does not take because they define the run, as "name value (the run's: value)"."""
    out = []
    for name in sorted(names):
        holder_old, holder_new, field_name = (
            (stored.data, given.data, name[5:]) if name.startswith("data.") else (stored, given, name)
        )
        role = next((f.metadata.get("role") for f in dataclasses.fields(holder_old) if f.name == field_name), None)
        old, new = getattr(holder_old, field_name), getattr(holder_new, field_name)
        if role == RUN["role"] and old != new:
            out.append(f"{name.replace('data.', 'data ')} {new} (the run's: {old})")
    return out
