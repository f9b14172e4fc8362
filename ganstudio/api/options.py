"""Plugin options and command-line value types, in one place.

A plugin declares its options as a dataclass; each field's type is what the user's text is parsed as, and
``help`` in the field's metadata is what ``--help`` prints::

    @dataclass
    class GifOptions:
        fps: float = option(4.0, "frames per second of timeline.gif", min=0.0)

``parse_options(GifOptions, {"fps": "8"}, "callback 'gif'")`` -> GifOptions(fps=8.0); a bad value is one line
naming the option and its type. ``add_option_flags`` turns a callback's fields into ``--gif-fps`` flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import typing
from typing import Any, Optional, Union

from ganstudio.errors import GanstudioError

_NONE = object()


def option(
    default,
    help: str = "",
    *,
    min: Optional[float] = None,
    above: Optional[float] = None,
    max: Optional[float] = None,
    below: Optional[float] = None,
    before=_NONE,
):
    """A dataclass field with its ``--help`` text and optional bounds: ``min``/``max`` inclusive, ``above``/``below``
    exclusive. ``before``: for an option added to a model later, the value its older checkpoints were built with
    (a checkpoint records every option of its day, so one without this option gets ``before``, not ``default``)."""
    metadata = {"help": help, "min": min, "above": above, "max": max, "below": below}
    if before is not _NONE:
        metadata["before"] = before
    return dataclasses.field(default=default, metadata=metadata)


def recorded_options(cls, recorded: dict) -> dict:
    """The options a checkpoint recorded, with ``before`` values for the options that did not exist when it was
    written (see ``option``)."""
    if cls is None:
        return dict(recorded)
    older = {
        f.name: f.metadata["before"]
        for f in dataclasses.fields(cls)
        if "before" in f.metadata and f.name not in recorded
    }
    return {**older, **recorded}


# --- one value ---------------------------------------------------------------------------------------


def _base_type(annotation) -> tuple[type, bool]:
    """(int/float/bool/str, optional?) of a field annotation such as ``Optional[int]``."""
    if typing.get_origin(annotation) is Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def convert(raw: Any, kind: type, what: str) -> Any:
    """``raw`` (text from the command line, or a stored value) as ``kind``; one-line error naming ``what``."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise GanstudioError(f"{what}: expected true or false, got '{raw}'")
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise GanstudioError(f"{what}: expected a whole number, got '{raw}'")
        try:
            return int(raw) if not isinstance(raw, str) else int(raw.strip())
        except ValueError:
            raise GanstudioError(f"{what}: expected a whole number, got '{raw}'") from None
    if kind is float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        except ValueError:
            raise GanstudioError(f"{what}: expected a number, got '{raw}'") from None
    return str(raw)


def _check_bounds(value, field: dataclasses.Field, what: str) -> None:
    low, above = field.metadata.get("min"), field.metadata.get("above")
    if value is None or isinstance(value, (bool, str)):
        return
    if low is not None and value < low:
        raise GanstudioError(f"{what}: expected at least {low:g}, got {value:g}")
    if above is not None and not value > above:
        raise GanstudioError(f"{what}: expected a number greater than {above:g}, got {value:g}")
    high, below = field.metadata.get("max"), field.metadata.get("below")
    if high is not None and value > high:
        raise GanstudioError(f"{what}: expected at most {high:g}, got {value:g}")
    if below is not None and not value < below:
        raise GanstudioError(f"{what}: expected a number less than {below:g}, got {value:g}")


def field_types(cls) -> dict[str, tuple[type, bool]]:
    hints = typing.get_type_hints(cls)
    return {f.name: _base_type(hints[f.name]) for f in dataclasses.fields(cls)}


# --- a whole options dataclass -----------------------------------------------------------------------


def parse_options(cls, raw: dict, owner: str):
    """An instance of the options dataclass ``cls`` from ``raw`` (names -> text or values). ``owner`` names the
    plugin in errors, e.g. "model 'dcgan'". Unknown names list the valid ones."""
    if cls is None:
        if raw:
            raise GanstudioError(f"{owner} takes no options, got {', '.join(sorted(raw))}")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise GanstudioError(
            f"{owner} has no option {', '.join(unknown)}; options: {', '.join(sorted(fields)) or '(none)'}"
        )
    types = field_types(cls)
    values = {}
    for name, value in raw.items():
        kind, optional = types[name]
        what = f"{owner} option {name} ({describe_type(kind, optional)})"
        if value is None or (optional and isinstance(value, str) and value.lower() == "none"):
            if not optional:
                raise GanstudioError(f"{what}: a value is required")
            values[name] = None
            continue
        values[name] = convert(value, kind, what)
        _check_bounds(values[name], fields[name], what)
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:  # the dataclass's own __post_init__ checks
        raise GanstudioError(f"{owner}: {e}") from None


def options_dict(options) -> dict:
    """Plain-typed dict of an options instance (what checkpoints store); {} for None."""
    return dataclasses.asdict(options) if options is not None else {}


def describe_type(kind: type, optional: bool = False) -> str:
    name = {int: "integer", float: "number", bool: "true/false", str: "text"}.get(kind, kind.__name__)
    return f"{name} or none" if optional else name


def describe_options(cls) -> list[str]:
    """One line per option, ``name (type, default D): help``, for --help and ``ganstudio plugins``."""
    if cls is None:
        return []
    types = field_types(cls)
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(
            f"{f.name} ({describe_type(*types[f.name])}, default {default}): {f.metadata.get('help', '')}".rstrip(": ")
        )
    return lines


def did_you_mean(text: str, choices, quote: str = "'") -> str:
    """ "did you mean 'Trouser'?" for the choice closest to ``text`` (case-insensitive), or "" when none is close:
    for unknown options, commands and class names."""
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(str(text).lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean {quote}{by_lower[close[0]]}{quote}?" if close else ""


# --- command-line flags ------------------------------------------------------------------------------


def add_option_flags(parser: argparse.ArgumentParser, cls, prefix: str, title: str, hidden: bool = False) -> None:
    """A ``--<prefix>-<field>`` flag per field of ``cls`` in an argument group; values land in
    ``args.plugin_options[prefix][field]`` as text (parsed later by parse_options, with one-line errors).
    ``hidden``: accepted, but left out of --help (an off-by-default plugin's; `ganstudio plugins NAME` shows them)."""
    if cls is None or not dataclasses.fields(cls):
        return
    group = parser.add_argument_group(title)
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        kind, optional = types[f.name]
        flag = f"--{prefix}-{f.name.replace('_', '-')}"
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f"{f.metadata.get('help', '')} (default {default})".strip()
        group.add_argument(
            flag,
            action=_Collect,
            dest=f"_plugin_option:{prefix}:{f.name}",
            default=argparse.SUPPRESS,
            metavar=describe_type(kind).upper().replace("/", "|") if kind is not bool else "true|false",
            help=argparse.SUPPRESS if hidden else help_text,
        )


class _Collect(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        _, prefix, name = self.dest.split(":")
        store = getattr(namespace, "plugin_options", None) or {}
        store.setdefault(prefix, {})[name] = values
        namespace.plugin_options = store


def key_value(text: str) -> tuple[str, str]:
    """KEY=VALUE, the value kept as text: the plugin's options dataclass says what type it is."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    return key.strip().replace("-", "_"), raw


def number_type(
    kind: type, above: Optional[float] = None, low: Optional[float] = None, high: Optional[float] = None, what: str = ""
):
    """An argparse ``type=`` for a number of ``kind`` (int or float) with bounds; errors name the range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got '{text}'"
            ) from None
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"expected a number greater than {above:g}, got {value}")
        if (low is not None and not value >= low) or (high is not None and not value <= high):
            raise argparse.ArgumentTypeError(f"expected {what or 'a number'} from {low} to {high}, got {text}")
        return value

    return parse


positive_int = number_type(int, above=0)
positive_float = number_type(float, above=0)
seed_number = number_type(int, low=0, high=2**63 - 1, what="a seed")  # what torch.manual_seed takes
# GIF stores frame delays in hundredths of a second
frames_per_second = number_type(float, low=0.1, high=50, what="frames per second (GIF delays are in 1/100 s)")
