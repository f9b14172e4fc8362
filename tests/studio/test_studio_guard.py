"""``ganstudio studio`` as started from the command line: its URL, the token every request needs, the Host check,
the header that requests changing something need, and the one line when the extra is missing."""

from __future__ import annotations

import urllib.request

from ganstudio.studio.app import allowed_hosts


def test_prints_a_loopback_url_with_a_token(tmp_path, start_studio):
    studio = start_studio(tmp_path)
    assert studio.url.startswith("http://127.0.0.1:") and len(studio.token) >= 32


def test_a_request_without_the_token_is_refused(tmp_path, start_studio):
    studio = start_studio(tmp_path)
    status, body = studio.get("/runs", token=False)
    assert status == 403 and "token" in body
    assert studio.get("/runs", token=False, **{"X-Ganstudio-Token": "wrong"})[0] == 403
    assert studio.get("/runs?token=wrong", token=False)[0] == 403
    assert studio.get("/static/studio.js", token=False)[0] == 403


def test_the_printed_url_sets_a_strict_cookie_that_later_pages_use(tmp_path, start_studio):
    studio = start_studio(tmp_path)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(studio.url, timeout=30)
        raise AssertionError("expected the redirect to /runs")
    except urllib.error.HTTPError as e:
        assert e.code == 303 and e.headers["location"] == "/runs"
        cookie = e.headers["set-cookie"]
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie
    status, _ = studio.get("/static/studio.js", token=False, Cookie=cookie.split(";")[0])
    assert status == 200


def test_a_post_needs_the_header_not_just_the_cookie(tmp_path, start_studio):
    studio = start_studio(tmp_path)
    cookie = f"ganstudio_token={studio.token}"
    request = urllib.request.Request(studio.base + "/runs", data=b"{}", method="POST", headers={"Cookie": cookie})
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("a POST with only the cookie was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and "X-Ganstudio-Token" in e.read().decode()


def test_another_host_name_is_refused(tmp_path, start_studio):
    """DNS rebinding: a page served as evil.example that resolves to 127.0.0.1 must not reach the studio."""
    studio = start_studio(tmp_path)
    assert studio.get("/static/studio.js", Host="evil.example")[0] == 403
    port = studio.base.rsplit(":", 1)[1]
    assert studio.get("/static/studio.js", Host=f"localhost:{port}")[0] == 200


def test_allowed_hosts_of_loopback_name_every_loopback_spelling():
    assert allowed_hosts("127.0.0.1", 8000) == {"127.0.0.1:8000", "localhost:8000", "::1:8000", "[::1]:8000"}
    assert allowed_hosts("10.0.0.5", 8000) == {"10.0.0.5:8000"}


def test_another_host_is_an_explicit_choice_with_a_warning(tmp_path, start_studio):
    studio = start_studio(tmp_path, "--host", "0.0.0.0")
    assert studio.url.startswith("http://0.0.0.0:")
    studio.process.terminate()
    _, err = studio.process.communicate(timeout=10)
    assert "warning: --host 0.0.0.0" in err


def test_a_missing_extra_is_one_line(cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    code, out, err = cli("studio")
    assert code != 0 and "pip install 'ganstudio[studio]'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line(cli, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        code, out, err = cli("studio", "--port", taken.getsockname()[1])
    assert code != 0 and "cannot listen there" in err and "Traceback" not in err


def test_a_port_out_of_range_is_one_line(cli):
    for port in ("99999", "-1"):
        code, out, err = cli("studio", "--port", port)
        assert code != 0 and "expected a port from 0 to 65535" in err and "Traceback" not in err
