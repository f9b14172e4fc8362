"""The studio's web app: every page module's routes behind one guard, Jinja2 templates with autoescaping, the
static files shipped in the package (no CDN: it works offline).

    studio = Studio(checkpoints_dir=Path("checkpoints"), samples_dir=Path("samples"), plugins=plugins, token=token)
    app = create_app(studio)            # an ASGI app; server.py runs it with uvicorn

Page modules (runs.py, explore.py, launch.py) each define ``routes(studio) -> list`` of Starlette routes and render
with ``studio.render(request, "name.html", **context)``; their templates extend ``base.html``.
"""

from __future__ import annotations

import hmac
import importlib
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs

HERE = Path(__file__).parent
PAGES = ("runs", "explore", "launch")  # ganstudio.studio.<name>, each with routes(studio)
COOKIE = "ganstudio_token"
HEADER = "x-ganstudio-token"  # what the pages' scripts send with every request that changes something
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass
class Studio:
    """What every page needs: where runs are, the plugins, the token; page modules keep their own state in
    ``state`` (a loaded generator per checkpoint, the processes started from the page)."""

    checkpoints_dir: Path
    samples_dir: Path
    plugins: Any
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    state: dict = field(default_factory=dict)
    templates: Any = None

    def render(self, request, name: str, status_code: int = 200, **context):
        """The template ``name`` with ``context``, the token for the page's scripts and links, and the request."""
        return self.templates.TemplateResponse(
            request, name, {"token": self.token, "studio": self, **context}, status_code=status_code
        )


def create_app(studio: Studio):
    """The ASGI app of ``studio``: the pages of PAGES, /static, and / (the runs page), behind TokenGuard."""
    import jinja2
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.templating import Jinja2Templates

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    studio.templates = Jinja2Templates(env=env)
    routes = [Route("/", lambda request: RedirectResponse("/runs", status_code=303))]
    for page in PAGES:
        routes += importlib.import_module(f"ganstudio.studio.{page}").routes(studio)
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    return TokenGuard(Starlette(routes=routes), studio.token, allowed_hosts(studio.host, studio.port))


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers the app answers: the address it listens on (and localhost's names when that is loopback),
    so a page on another name that resolves here (DNS rebinding) is refused."""
    names = set(LOOPBACK) if host in LOOPBACK else {host}
    return {f"{name}:{port}" for name in names} | (names if port in (80, 0) else set())


class TokenGuard:
    """Every request must carry the token: in ``?token=`` (the printed URL; it then sets a SameSite=Strict cookie),
    the cookie, or the X-Ganstudio-Token header. A request that is not a GET must send the header, which another
    site's page cannot (so it cannot start processes); its Host must be one the studio listens on."""

    def __init__(self, app, token: str, hosts: set[str]):
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        problem = self.problem(scope, headers)
        if problem:
            return await refuse(problem, scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if query is None or not self.matches(query):
            return await self.app(scope, receive, send)

        async def send_with_cookie(message):  # the printed URL's token becomes a cookie for the pages' links
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)

    def matches(self, given: Optional[str]) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def problem(self, scope, headers: dict) -> Optional[str]:
        if self.hosts and headers.get("host") not in self.hosts:
            return "this studio answers only on the address it printed"
        if self.matches(headers.get(HEADER)):
            return None
        if scope["method"] not in ("GET", "HEAD"):
            return "missing or wrong token: requests that change something send the X-Ganstudio-Token header"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        cookie = SimpleCookie(headers.get("cookie", "")).get(COOKIE)
        if self.matches(query) or (cookie is not None and self.matches(cookie.value)):
            return None
        return "missing or wrong token: open the URL `ganstudio studio` printed (it ends in ?token=...)"


async def refuse(problem: str, scope, receive, send):
    from starlette.responses import PlainTextResponse

    await PlainTextResponse(f"403: {problem}\n", status_code=403)(scope, receive, send)
