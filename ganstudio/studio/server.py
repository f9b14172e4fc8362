"""Starting the studio: the extra's packages checked first, a free port on 127.0.0.1 unless told otherwise, a fresh
token, the URL printed (and opened with --open), then uvicorn until Ctrl-C.

    serve(checkpoints_dir, samples_dir, plugins, host="127.0.0.1", port=0, open_browser=False)
"""

from __future__ import annotations

import secrets
import socket
import sys
from pathlib import Path

from ganstudio.errors import GanstudioError

NEEDS = ("starlette", "uvicorn", "jinja2")


def check_installed() -> None:
    """One line naming the extra when a package of the studio is missing."""
    import importlib.util

    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise GanstudioError(
            f"ganstudio studio needs {', '.join(missing)}: pip install 'ganstudio[studio]' (or make .venv/.installed)"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or one line saying why not."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise GanstudioError(
            f"--host {host} --port {port}: cannot listen there ({e.strerror or e}); "
            "choose another --port, or leave it out for a free one"
        ) from None
    sock.listen(128)
    return sock


def url_of(host: str, port: int, token: str) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    return f"http://{shown}:{port}/?token={token}"


def serve(checkpoints_dir, samples_dir, plugins, host: str = "127.0.0.1", port: int = 0, open_browser=False) -> int:
    """Run the studio until Ctrl-C; prints its URL with the token first (and a warning off loopback)."""
    check_installed()
    import uvicorn

    from ganstudio.studio.app import LOOPBACK, Studio, create_app

    sock = bind(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    studio = Studio(Path(checkpoints_dir), Path(samples_dir), plugins, token, host=host, port=port)
    app = create_app(studio)
    url = url_of(host, port, token)
    if host not in LOOPBACK:
        print(
            f"warning: --host {host}: anyone who can reach this address and learns the token can start "
            "training and read every run; the default, 127.0.0.1, is this machine only",
            file=sys.stderr,
        )
    print(f"ganstudio studio: {url}", flush=True)
    print(
        "  (the token in the URL is this session's key; Ctrl-C stops the studio, not the runs it started)", flush=True
    )
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
