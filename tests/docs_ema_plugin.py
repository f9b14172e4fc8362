"""The generator-EMA callback of docs/plugins.md ("Callback state"), character for character:
tests/test_docs.py checks the docs quote this file, tests/test_contract.py trains it."""

from dataclasses import dataclass

import torch

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, option


@dataclass
class EMAOptions:
    decay: float = option(0.999, "how much of the average each step keeps", min=0.0)


class GeneratorEMA:
    """An exponential moving average of the generator's parameters, updated after every step."""

    def __init__(self, options: EMAOptions):
        self.decay = options.decay
        self.average = {}  # parameter name -> tensor on the run's device

    @hookimpl
    def before_training_run(self, run):
        self.pairs = []
        for name, param in run.model.generator.named_parameters():
            # resumed: load_state_dict() has put the saved average here (on the CPU); fresh: start from the weights
            self.average[name] = self.average.get(name, param.detach()).to(param.device, copy=True)
            self.pairs.append((self.average[name], param))

    @hookimpl
    def after_training_step(self):
        with torch.no_grad():  # tensor ops only: no .item(), so no host sync
            for average, param in self.pairs:
                average.lerp_(param, 1.0 - self.decay)

    def state_dict(self):  # kept in the checkpoint, under callbacks["ema"]
        return {"average": dict(self.average)}

    def load_state_dict(self, state):  # on --resume, before before_training_run
        self.average = dict(state["average"])


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "ema", GeneratorEMA, "moving average of the generator's weights", default=False, options=EMAOptions
        )
    )
