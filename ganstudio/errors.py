"""One exception type for every problem a user can fix; the CLI prints it as one line."""

import difflib


class GanstudioError(Exception):
    """A user-facing error: printed as a single line, exit status 2 (no traceback unless --debug)."""

    exit_code = 2
    quiet = False  # True: the exit status says it all (another process printed the reason)


class OtherRankFailed(GanstudioError):
    """Under torchrun: this rank stops because another one failed and said why on its own stderr."""

    exit_code = 1
    quiet = True


class Interrupted(GanstudioError):
    """Ctrl-C / SIGTERM stopped work nested in another (a classifier trained for eval): the outer work stops too,
    with exit status 130 / 143."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class DivergenceError(GanstudioError):
    """Losses or weights became NaN/Inf; the run stops without overwriting the last good checkpoint."""


class PluginError(GanstudioError):
    """A plugin failed to load, registered a duplicate name, or raised inside a hook."""


def unknown_name(kind: str, name: str, available: list[str]) -> GanstudioError:
    """Error for an unknown dataset/model/callback name: lists what exists and suggests the closest."""
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(sorted(available)) or "(none registered)"
    return GanstudioError(f"unknown {kind} '{name}'.{hint} Available: {listed}.")
