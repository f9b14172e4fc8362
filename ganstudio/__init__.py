"""ganstudio: train a GAN with one command, watch it learn, sample, score; extend with plugins."""

# Until the working folder leaves sys.path (below), only modules Python has already loaded (os, sys) or built in
# (_signal): a signal.py there cannot stand in for them, and the handler is in before `signal`'s enums (ms) are built.
import _signal
import os
import sys


def _located_by_python_m() -> bool:
    """True while ``python -m ganstudio`` (or ``torchrun -m ganstudio``, a rank's ``python -u -m ganstudio``) imports
    this package to find its __main__: runpy sets sys.argv[0] to "-m" until the module runs, and its
    _get_module_details frame names the module. A plain ``import ganstudio`` anywhere else is never this."""
    if sys.argv[:1] != ["-m"]:
        return False
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_get_module_details":
            return str(frame.f_locals.get("mod_name", "")).split(".")[0] == "ganstudio"
        frame = frame.f_back
    return False


def _started_as_command() -> bool:
    """``python -m ganstudio`` or the ``ganstudio`` console script (whose __main__ is the script itself)."""
    main = sys.modules.get("__main__")
    script = bool(sys.argv) and os.path.basename(sys.argv[0]) == "ganstudio"
    return _located_by_python_m() or (script and getattr(main, "__file__", None) == sys.argv[0])


def _interrupted_while_starting(signum, frame):
    # Ctrl-C during the first imports: nothing is open yet, so one line and out (cli.main takes over from here).
    os.write(2, b"interrupted\n")
    os._exit(130)


if _located_by_python_m() and sys.path and sys.path[0] in ("", os.getcwd()):
    # `-m` puts the working folder first on sys.path: a pluggy.py or torch.py there would run with the user's rights
    # (a cloned repository trains in its own folder). The package is found already; nothing of ours is there.
    # A ganstudio.py in the folder shadows the package itself under any `python -m ganstudio` (Python's rule, before
    # this file runs): the console script `ganstudio` and `train --nproc` (which starts `python -P`) are safe from it.
    del sys.path[0]
if _started_as_command() and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

import pluggy  # noqa: E402

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("ganstudio")

from ganstudio.errors import GanstudioError  # noqa: E402

__all__ = ["hookimpl", "GanstudioError", "__version__"]
