"""The CAPTCHA adapters against a local stub of the siteverify endpoint (127.0.0.1 only)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.contrib.auth.models import User
from django.test import Client

from loginguard.django.captcha import HCaptcha, ReCaptcha, SiteVerify, StaticCaptcha, Turnstile

ADAPTERS = [ReCaptcha, HCaptcha, Turnstile]
SECRET = "server-secret"
GOOD_TOKEN = "token-from-the-widget"
CLIENT_IP = "203.0.113.7"


class Stub:
    """What the stub received, and how it answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.status = 200
        self.body: bytes | None = None  # None: answer from the fields received


class Handler(BaseHTTPRequestHandler):
    stub: Stub

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        fields = parse_qs(self.rfile.read(length).decode())
        self.stub.requests.append(fields)
        body = self.stub.body
        if body is None:
            ok = (
                fields.get("secret") == [SECRET]
                and fields.get("response") == [GOOD_TOKEN]
                and fields.get("remoteip") == [CLIENT_IP]
            )
            body = json.dumps({"success": ok}).encode()
        self.send_response(self.stub.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub()
    handler = type("StubHandler", (Handler,), {"stub": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/siteverify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_adapter_sends_secret_response_and_remote_ip(
    adapter: type[SiteVerify], stub: tuple[Stub, str]
) -> None:
    state, url = stub
    verifier = adapter(secret=SECRET, site_key="site", verify_url=url, timeout=5)
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is True
    assert state.requests == [
        {"secret": [SECRET], "response": [GOOD_TOKEN], "remoteip": [CLIENT_IP]}
    ]
    assert verifier.verify("forged-token", CLIENT_IP) is False
    assert verifier.verify(GOOD_TOKEN, "198.51.100.1") is False
    assert verifier.verify("", CLIENT_IP) is False
    assert len(state.requests) == 3  # an empty token is refused without asking
    assert 'data-sitekey="site"' in verifier.widget()
    assert verifier.field in {"g-recaptcha-response", "h-captcha-response", "cf-turnstile-response"}


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"success": true}'),
        (200, b"not json"),
        (200, b'["success"]'),
        (200, b'{"success": "true"}'),
        (200, b"{}"),
    ],
)
def test_errors_fail_closed(
    adapter: type[SiteVerify], stub: tuple[Stub, str], status: int, body: bytes
) -> None:
    state, url = stub
    state.status, state.body = status, body
    assert adapter(secret=SECRET, verify_url=url).verify(GOOD_TOKEN, CLIENT_IP) is False
    assert len(state.requests) == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_timeout_fails_closed(adapter: type[SiteVerify]) -> None:
    # A server that accepts connections (kernel backlog) and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/siteverify"
        assert (
            adapter(secret=SECRET, verify_url=url, timeout=0.2).verify(GOOD_TOKEN, CLIENT_IP)
            is False
        )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_refused_connection_fails_closed(adapter: type[SiteVerify]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request
    url = f"http://127.0.0.1:{port}/siteverify"
    assert adapter(secret=SECRET, verify_url=url, timeout=1).verify(GOOD_TOKEN, CLIENT_IP) is False


def test_adapters_need_a_secret() -> None:
    with pytest.raises(ValueError):
        Turnstile(secret="")
    with pytest.raises(ValueError):
        StaticCaptcha(secret="")


@pytest.mark.django_db
def test_login_view_passes_the_challenge_through_turnstile(
    settings: Any, stub: tuple[Stub, str]
) -> None:
    state, url = stub
    settings.LOGINGUARD = {
        "MANUAL_CLOCK": True,
        "CAPTCHA": {
            "BACKEND": "loginguard.django.captcha.Turnstile",
            "SITE_KEY": "site",
            "SECRET": SECRET,
            "VERIFY_URL": url,
            "TIMEOUT": 5,
        },
    }
    User.objects.create_user("alice", "alice@example.com", "alice-pw")
    c = Client()
    for _ in range(4):
        r = c.post(
            "/accounts/login/", {"username": "alice", "password": "x"}, REMOTE_ADDR=CLIENT_IP
        )
    assert 'class="cf-turnstile" data-sitekey="site"' in r.text
    assert state.requests == []  # no CAPTCHA asked before it was needed
    data = {"username": "alice", "password": "alice-pw", "cf-turnstile-response": "forged"}
    r = c.post("/accounts/login/", data, REMOTE_ADDR=CLIENT_IP)
    assert r.status_code == 200 and "_auth_user_id" not in c.session
    data["cf-turnstile-response"] = GOOD_TOKEN
    r = c.post("/accounts/login/", data, REMOTE_ADDR=CLIENT_IP)
    assert r.status_code == 302 and "_auth_user_id" in c.session
    assert [q["response"] for q in state.requests] == [["forged"], [GOOD_TOKEN]]
    assert all(q["remoteip"] == [CLIENT_IP] for q in state.requests)
