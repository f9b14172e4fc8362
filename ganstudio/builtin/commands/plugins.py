"""``ganstudio plugins``: every plugin, where it came from and what it registers (datasets, models, callbacks, feature
spaces, commands; ``--json`` for machines). ``ganstudio plugins NAME``: one of them in detail."""

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
        ("feature_spaces", plugins.feature_extractors),
    ):
        for item in registry.values():
            registered.setdefault(item.plugin, {}).setdefault(kind, []).append(item.name)
            lines = describe_options(getattr(item, "options", None))
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


def space_rows(plugins) -> list[dict]:
    """Every registered feature space: what ``--features NAME`` feeds its network and the weights file it needs."""
    return [
        {
            "name": space.name,
            "plugin": space.plugin,
            "input_size": space.input_size,
            "channels": space.channels,
            "input_range": space.input_range,
            "weights": space.weights or None,
            "description": space.description,
        }
        for space in plugins.feature_extractors.values()
    ]


def spaces_table(plugins):
    """The feature spaces of ``ganstudio eval --features NAME`` (and ``train --eval-features NAME``)."""
    from rich.markup import escape

    table = Table(title="feature spaces (--features NAME)", expand=False)
    for column in ("name", "input", "weights file", "description"):
        table.add_column(column, overflow="fold")
    for row in space_rows(plugins):
        size = f"{row['input_size']} px" if row["input_size"] else "own size"
        cells = (row["name"], size, row["weights"] or "none (offline)", row["description"])
        table.add_row(*(escape(str(cell)) for cell in cells))
    return table


def space_help(space) -> tuple[str, list[str]]:
    """The title and lines of ``ganstudio plugins NAME`` for a feature space."""
    from ganstudio.scoring.weights import cache_folder, hub_folder

    size = f"resized to {space.input_size}x{space.input_size}" if space.input_size else "the data's own size"
    channels = f", {space.channels} channels (grey repeated)" if space.channels else ""
    lines = [space.description, f"input: {size}{channels}, {space.input_range}"]
    if space.weights:
        places = [cache_folder() / space.weights, hub_folder() / space.weights]
        found = next((str(p) for p in places if p.is_file()), None)
        where = f"found at {found}" if found else f"not found in {places[0].parent}/ or {places[1].parent}/"
        lines.append(f"weights file: {space.weights} ({where}; --weights PATH for another)")
    else:
        lines.append("weights file: none needed")
    lines.append(f"ganstudio eval --features {space.name}; ganstudio train --eval-every N --eval-features {space.name}")
    return f"feature space '{space.name}'", [line for line in lines if line]


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
            f"{kind.replace('_', ' ')}: {', '.join(row[kind])}"
            for kind in ("datasets", "models", "callbacks", "feature_spaces", "commands")
            if row.get(kind)
        )
        source = row["source"] if row["source"] == "built-in" else f"{row['source']} ({row['where']})"
        cells = [row["name"], source, registers or "-"] + ([", ".join(row["hooks"])] if args.verbose else [])
        table.add_row(*cells)
    console.print(table)
    console.print(spaces_table(args.plugins))
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

    registries = (
        ("model", plugins.models),
        ("dataset", plugins.datasets),
        ("callback", plugins.callbacks),
        ("feature space", plugins.feature_extractors),
    )
    items = [(kind, registry[name]) for kind, registry in registries if name in registry]
    if not items and name in plugins.info:  # a plugin's own name: everything it registers
        items = [(kind, item) for kind, registry in registries for item in registry.values() if item.plugin == name]
        print(f"plugin {name} ({plugins.info[name].source}): {len(items)} registered")
    if not items and name not in plugins.info:
        known = sorted({n for _, registry in registries for n in registry})  # not the plugins' long module names
        raise unknown_name("model, dataset, callback or feature space", name, known)
    width = max(shutil.get_terminal_size().columns - 2, 40)
    for i, (kind, item) in enumerate(items):
        title, lines = space_help(item) if kind == "feature space" else plugin_help(kind, item)
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
        help="one model, dataset, callback or feature space (or plugin): its description, defaults and options",
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
