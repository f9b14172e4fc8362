"""``ganstudio plugins``: every plugin, where it came from and what it registers (``--json`` for machines)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from ganstudio import hookimpl
from ganstudio.api.commands import plugin_help
from ganstudio.api.options import describe_options


def describe(plugins) -> list[dict]:
    registered: dict[str, dict] = {name: {} for name in plugins.info}
    for kind, registry in (
        ("datasets", plugins.datasets),
        ("models", plugins.models),
        ("callbacks", plugins.callbacks),
    ):
        for item in registry.values():
            registered.setdefault(item.plugin, {}).setdefault(kind, []).append(item.name)
            lines = describe_options(item.options)
            if lines:
                registered[item.plugin].setdefault("options", {})[f"{kind[:-1]} {item.name}"] = lines
    for plugin_name, commands in plugins.commands.items():
        registered.setdefault(plugin_name, {})["commands"] = sorted(commands)
    rows = []
    for name, info in plugins.info.items():
        plugin = plugins.pm.get_plugin(name)
        hooks = sorted(h.name for h in plugins.pm.get_hookcallers(plugin) or [])
        rows.append(
            {"name": name, "source": info.source, "where": info.where, "hooks": hooks, **registered.get(name, {})}
        )
    return rows


def run_plugins(args) -> int:
    from ganstudio.store.trust import set_trust

    if args.trust is not None or args.untrust is not None:
        trusted = args.trust is not None
        folder = set_trust(args.trust if trusted else args.untrust, trusted)
        print(
            f"{folder}: "
            f"{'trusted: its plugins load from now on' if trusted else 'no longer trusted: its plugins are not loaded'}"
        )
        return 0
    if args.name is not None:
        return show_one(args.plugins, args.name)
    rows = describe(args.plugins)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    console = Console()
    table = Table(title="ganstudio plugins", expand=False)
    table.add_column("plugin", overflow="fold")
    table.add_column("source", overflow="fold")
    table.add_column("registers", overflow="fold")
    if args.verbose:
        table.add_column("hooks", overflow="fold")
    for row in rows:
        registers = "; ".join(
            f"{kind}: {', '.join(row[kind])}"
            for kind in ("datasets", "models", "callbacks", "commands")
            if row.get(kind)
        )
        source = row["source"] if row["source"] == "built-in" else f"{row['source']} ({row['where']})"
        cells = [row["name"], source, registers or "-"] + ([", ".join(row["hooks"])] if args.verbose else [])
        table.add_row(*cells)
    console.print(table)
    if not args.verbose:
        console.print(
            "(--verbose adds the hooks each plugin implements; --json has everything, options too)", highlight=False
        )
    return 0


def show_one(plugins, name: str) -> int:
    """``ganstudio plugins NAME``: the model, dataset or callback called NAME (or what plugin NAME registers), its
    description, defaults and own options; an unknown name is one line with a did-you-mean."""
    import shutil
    import textwrap

    from ganstudio.errors import unknown_name

    registries = (("model", plugins.models), ("dataset", plugins.datasets), ("callback", plugins.callbacks))
    items = [(kind, registry[name]) for kind, registry in registries if name in registry]
    if not items and name in plugins.info:  # a plugin's own name: everything it registers
        items = [(kind, item) for kind, registry in registries for item in registry.values() if item.plugin == name]
        print(f"plugin {name} ({plugins.info[name].source}): {len(items)} registered")
    if not items and name not in plugins.info:
        known = sorted({n for _, registry in registries for n in registry})  # not the plugins' long module names
        raise unknown_name("model, dataset or callback", name, known)
    width = max(shutil.get_terminal_size().columns - 2, 40)
    for i, (kind, item) in enumerate(items):
        title, lines = plugin_help(kind, item)
        print(("\n" if i else "") + f"{title}, from plugin {item.plugin}:")
        print("\n".join(textwrap.fill(line, width, initial_indent="  ", subsequent_indent="      ") for line in lines))
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command("plugins", help="list plugins, their source and what they register", run=run_plugins)
    p.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="one model, dataset or callback (or plugin): its description, defaults and own options",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verbose", action="store_true", help="also list the hooks each plugin implements")
    p.add_argument(
        "--trust",
        nargs="?",
        const="plugins",
        metavar="DIR",
        help="load the plugins folder DIR (default ./plugins) in every later command: it runs its code",
    )
    p.add_argument("--untrust", nargs="?", const="plugins", metavar="DIR", help="stop loading the plugins folder DIR")
