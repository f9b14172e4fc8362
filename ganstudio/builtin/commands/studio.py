"""``ganstudio studio``: the local web app (docs/studio.md) — runs updating live, a run's charts and timeline, a
generator explored by hand, training started and stopped from the page.

    ganstudio studio                 # prints http://127.0.0.1:PORT/?token=...; Ctrl-C stops it
    ganstudio studio --port 8765 --open
"""

from __future__ import annotations

from ganstudio import hookimpl
from ganstudio.api.commands import add_folder_options
from ganstudio.api.options import number_type


def run_studio(args) -> int:
    from ganstudio.studio.server import serve

    return serve(args.checkpoints_dir, args.samples_dir, args.plugins, args.host, args.port, args.open)


@hookimpl
def register_commands(cli):
    p = cli.command(
        "studio",
        help="the studio in the browser: watch runs live, explore a generator, start and stop training",
        run=run_studio,
    )
    add_folder_options(p)
    p.add_argument(
        "--port",
        type=number_type(int, low=0, high=65535, what="a port"),
        default=0,
        metavar="N",
        help="the port (default: a free one)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; anything else is reachable by others)",
    )
    p.add_argument("--open", action="store_true", help="open the URL in the browser")
