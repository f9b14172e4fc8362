"""ganstudio: train a GAN with one command, watch it learn, sample, score, extend with plugins."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("ganstudio")

from ganstudio.errors import GanstudioError  # noqa: E402

__all__ = ["hookimpl", "GanstudioError", "__version__"]
