"""The ``ganstudio`` command. Every subcommand, built-in or not, comes from a ``register_commands(cli)`` hook.

Errors a user can fix are one line on stderr and a non-zero exit; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback

from ganstudio import __version__
from ganstudio.errors import GanstudioError, PluginError
from ganstudio.limits import clean_lines
from ganstudio.train.distributed import rank_prefix

# torch and the plugins are imported inside main(), so that Ctrl-C during those (slow) imports is one line too.


# argparse's own wording for a value outside choices= (a command name, --precision, ...)
_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<given>.*)' \(choose from (?P<choices>.*)\)$")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``ganstudio train: error: ...``) rather than usage + error, with a
    did-you-mean for a misspelt option, command or choice, pointing to the help of the command that was given."""

    def error(self, message):
        from ganstudio.api.options import did_you_mean

        invalid = _INVALID_CHOICE.search(message)
        if invalid:
            choices = re.findall(r"'([^']*)'", invalid["choices"])
            hint = did_you_mean(invalid["given"], choices)
            message += f"; {hint}" if hint else ""
        raise GanstudioError(f"{self.prog}: {message} (see {self.prog} --help)")

    def parse_args(self, args=None, namespace=None):
        """As argparse, but what no option of the chosen command takes is reported by that command, not by
        ``ganstudio``: ``ganstudio train: unrecognized argument --minuts; did you mean --minutes?``."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands = self._subparsers._group_actions[0].choices if self._subparsers else {}
            command = commands.get(getattr(parsed, "command", None), self)
            command.unrecognized(extras)
        return parsed

    def unrecognized(self, extras: list[str]) -> None:
        from ganstudio.api.options import did_you_mean

        flags = [flag for action in self._actions for flag in action.option_strings if flag.startswith("--")]
        first = next((word.split("=")[0] for word in extras if word.startswith("--")), None)
        hint = did_you_mean(first, flags, quote="") if first else ""
        if hint:
            self.error(f"unrecognized argument {first}; {hint}")
        self.error(f"unrecognized arguments: {' '.join(extras)}")


class CommandRegistry:
    """What ``register_commands(cli)`` receives: ``parser = cli.command("name", help="...", run=func)``.

    ``run(args)`` gets the parsed arguments; ``args.plugins`` is the loaded Plugins; return an exit code or None."""

    def __init__(self, subparsers, parent: argparse.ArgumentParser, plugins, argv=()):
        self.plugins = plugins  # the loaded Plugins, e.g. to add an option per registered callback
        self.argv = list(argv)  # the command line: `train --help --model NAME` lists that model's options
        self._subparsers = subparsers
        self._parent = parent
        self._owners: dict[str, str] = {}
        self.current_plugin = ""

    def command(self, name: str, *, help: str, run) -> argparse.ArgumentParser:
        if name in self._owners:
            raise PluginError(
                f"command '{name}' is registered twice: "
                f"by plugin '{self._owners[name]}' and by plugin '{self.current_plugin}'"
            )
        self._owners[name] = self.current_plugin
        self.plugins.commands.setdefault(self.current_plugin, []).append(name)
        parser = self._subparsers.add_parser(name, help=help, description=help, parents=[self._parent])
        parser.set_defaults(_run=run)
        return parser


def _global_options(add_help: bool) -> ArgumentParser:
    # No abbreviations: read before the command's own options are known, "--n 4" must not mean "--no-plugins".
    parser = ArgumentParser(add_help=add_help, allow_abbrev=False)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser.add_argument(
        "--plugins-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="load the *.py plugins in DIR (./plugins is loaded only once trusted: ganstudio plugins --trust)",
    )
    parser.add_argument(
        "--no-plugins",
        action="store_true",
        default=argparse.SUPPRESS,
        help="load only the built-in plugins: no entry points, no plugins folder",
    )
    return parser


def build_parser(plugins, argv=()) -> ArgumentParser:
    from ganstudio.plugins import call_impl

    parent = _global_options(add_help=False)
    parser = ArgumentParser(
        prog="ganstudio",
        description="Train GANs, watch them learn, sample, score; extend with plugins.",
        parents=[parent],
    )
    parser.add_argument("--version", action="version", version=f"ganstudio {__version__}")
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=ArgumentParser,
        help="what to do (ganstudio COMMAND --help: its options)",
    )
    registry = CommandRegistry(subparsers, parent, plugins, argv)
    for impl in plugins.pm.hook.register_commands.get_hookimpls():
        registry.current_plugin = impl.plugin_name
        call_impl(impl, "register_commands", cli=registry)
    return parser


def _take_over_ctrl_c() -> None:
    """From here Ctrl-C is KeyboardInterrupt, answered below ("interrupted", 130) or by the command (a run saves);
    before, during the first imports of the command, ganstudio/__init__.py answered it alone."""
    import signal

    import ganstudio

    if signal.getsignal(signal.SIGINT) is ganstudio._interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answered before torch and the plugins are imported (about 2 s)
        print(f"ganstudio {__version__}")
        return 0
    early, _ = _global_options(add_help=False).parse_known_args(argv)
    debug = getattr(early, "debug", False) or bool(os.environ.get("GANSTUDIO_DEBUG"))
    _take_over_ctrl_c()
    try:
        from ganstudio.plugins import load_plugins

        none = getattr(early, "no_plugins", False)
        if none and getattr(early, "plugins_dir", None):
            raise GanstudioError("--no-plugins and --plugins-dir contradict each other; pass one")
        plugins = load_plugins(getattr(early, "plugins_dir", None), entry_points=not none, local=not none)
        parser = build_parser(plugins, argv)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 0 if not argv else 2
        args.plugins = plugins
        args.argv = argv  # as given: `train --nproc N` hands it on to torchrun
        code = args._run(args)
        return int(code or 0)
    except GanstudioError as e:
        if debug:
            traceback.print_exc()
        if not e.quiet:
            print(f"{rank_prefix()}error: {clean_lines(e, sys.maxsize)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # a bug, or an error nobody anticipated: still one line unless --debug
        if debug:
            traceback.print_exc()
        print(
            f"{rank_prefix()}error: unexpected {type(e).__name__}: {clean_lines(e, sys.maxsize)} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
