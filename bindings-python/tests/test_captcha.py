"""The CAPTCHA adapters against a local stub of the siteverify endpoint (127.0.0.1 only)."""

from __future__ import annotations

import json
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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
SITE = "testserver"  # the test project's ALLOWED_HOSTS, where the widget was solved


class Stub:
    """What the stub received, and how it answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.status = 200
        self.body: bytes | None = None  # None: answer from the fields received
        self.answer: dict[str, object] = {"hostname": SITE}  # what the answer adds to success
        self.trickle = False  # send the answer one byte at a time
        self.stop = threading.Event()


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
            body = json.dumps({"success": ok, **self.stub.answer}).encode()
        if self.stub.trickle:
            self.send_trickle(body)
            return
        self.send_response(self.stub.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_trickle(self, body: bytes) -> None:
        # A complete, valid answer, one byte every few milliseconds: each read of the client
        # waits far less than any per-read timeout, the whole answer takes seconds.
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.close_connection = True
        for byte in head + body:
            if self.stub.stop.wait(0.01):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up
                return

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[tuple[Stub, int]]:
    state = Stub()
    handler = type("StubHandler", (Handler,), {"stub": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    with serving() as (state, port):
        yield state, f"http://127.0.0.1:{port}/siteverify"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    request = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
    subject = "subjectAltName=DNS:localhost"
    subprocess.run(
        [openssl, *request.split(), "-keyout", key, "-out", cert, "-addext", subject],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_stub(certificate: tuple[Path, Path]) -> Iterator[tuple[Stub, str, Path]]:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with serving(tls) as (state, port):
        yield state, f"https://localhost:{port}/siteverify", cert


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


class Tunnels(socketserver.ThreadingTCPServer):
    """An http:// proxy that opens CONNECT tunnels to one port on 127.0.0.1."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: int) -> None:
        super().__init__(("127.0.0.1", 0), TunnelHandler)
        self.target = target
        self.heads: list[str] = []
        self.refuse = False


class TunnelHandler(socketserver.BaseRequestHandler):
    server: Tunnels

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = self.request.recv(1)
            if not byte:
                return
            head += byte
        self.server.heads.append(head.decode())
        if self.server.refuse:
            self.request.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            return
        with socket.create_connection(("127.0.0.1", self.server.target)) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            back = threading.Thread(target=relay, args=(upstream, self.request), daemon=True)
            back.start()
            relay(self.request, upstream)
            back.join(10)


def relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(1 << 16):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def tunnels(https_stub: tuple[Stub, str, Path]) -> Iterator[Tunnels]:
    server = Tunnels(int(https_stub[1].rsplit(":", 1)[1].split("/")[0]))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_goes_through_the_environment_proxy(
    https_stub: tuple[Stub, str, Path], tunnels: Tunnels, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url, cert = https_stub
    monkeypatch.setenv("https_proxy", f"http://app:p%40ss@127.0.0.1:{tunnels.server_address[1]}")
    verifier = Turnstile(secret=SECRET, verify_url=url)
    verifier.tls_context.load_verify_locations(cert)
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is True
    assert len(state.requests) == 1
    [head] = tunnels.heads
    assert head.startswith(f"CONNECT localhost:{tunnels.target} HTTP/1.1\r\n")
    assert "\r\nProxy-Authorization: Basic YXBwOnBAc3M=\r\n" in head  # app:p@ss
    tunnels.refuse = True
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is False
    assert len(tunnels.heads) == 2 and len(state.requests) == 1
    monkeypatch.setenv("no_proxy", "localhost")
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is True
    assert len(tunnels.heads) == 2 and len(state.requests) == 2
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("https_proxy", "socks5://127.0.0.1:1080")  # cannot tunnel: fails closed
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is False


class Ticking:
    """A deadline clock that moves one second each time it is read (no real time passes)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += 1.0
        return self.now


def returns(call: Callable[[], bool]) -> bool:
    """Runs ``call`` in a thread; a call still blocked after a generous grace fails the test."""
    outcome: list[bool] = []
    worker = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "the verification is still waiting"
    return outcome[0]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_trickling_answer_fails_closed_at_the_deadline(
    adapter: type[SiteVerify], stub: tuple[Stub, str]
) -> None:
    state, url = stub
    state.trickle = True
    state.answer = {"hostname": SITE, "padding": " " * 400}
    verifier = adapter(secret=SECRET, verify_url=url, timeout=20)
    verifier.clock = Ticking()
    # The answer would say success after some 500 reads; the deadline is 20 (ticking) seconds.
    assert returns(lambda: verifier.verify(GOOD_TOKEN, CLIENT_IP)) is False
    assert len(state.requests) == 1  # it was asked, and its answer cut short


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_https_verifies_the_provider_certificate(
    adapter: type[SiteVerify], https_stub: tuple[Stub, str, Path]
) -> None:
    state, url, cert = https_stub
    assert adapter(secret=SECRET, verify_url=url).verify(GOOD_TOKEN, CLIENT_IP) is False
    assert state.requests == []  # an untrusted certificate: nothing sent
    verifier = adapter(secret=SECRET, verify_url=url)
    verifier.tls_context.load_verify_locations(cert)
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is True
    assert verifier.verify("forged-token", CLIENT_IP) is False
    assert len(state.requests) == 2


def test_a_trickling_https_answer_fails_closed_at_the_deadline(
    https_stub: tuple[Stub, str, Path],
) -> None:
    state, url, cert = https_stub
    state.trickle = True
    state.answer = {"hostname": SITE, "padding": " " * 400}
    verifier = Turnstile(secret=SECRET, verify_url=url, timeout=20)
    verifier.tls_context.load_verify_locations(cert)
    verifier.clock = Ticking()
    assert returns(lambda: verifier.verify(GOOD_TOKEN, CLIENT_IP)) is False
    assert len(state.requests) == 1


def test_an_ipv6_literal_verify_url_is_asked_there(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[object, object]] = []

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append((host, port))
        raise socket.gaierror(socket.EAI_NONAME, "not here")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    for url, port in [("http://[::1]/siteverify", 80), ("https://[::1]:8443/v", 8443)]:
        asked.clear()
        assert Turnstile(secret=SECRET, verify_url=url).verify(GOOD_TOKEN, CLIENT_IP) is False
        assert asked == [("::1", port)]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_hanging_resolver_fails_closed_at_the_deadline(
    adapter: type[SiteVerify], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "siteverify.invalid":
            return real(host, *args, **kwargs)
        asked.append(host)
        release.wait()
        raise socket.gaierror(socket.EAI_AGAIN, "released at the end of the test")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = "http://siteverify.invalid/siteverify"
    try:
        verifier = adapter(secret=SECRET, verify_url=url, timeout=0.2)
        assert returns(lambda: verifier.verify(GOOD_TOKEN, CLIENT_IP)) is False
        assert asked == ["siteverify.invalid"]
    finally:
        release.set()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_silent_stub_fails_closed_at_the_deadline(adapter: type[SiteVerify]) -> None:
    # Accepts the connection and reads the request, never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/siteverify"
        verifier = adapter(secret=SECRET, verify_url=url, timeout=0.3)
        outcome: list[bool] = []
        worker = threading.Thread(
            target=lambda: outcome.append(verifier.verify(GOOD_TOKEN, CLIENT_IP)), daemon=True
        )
        worker.start()
        conn, _ = silent.accept()
        with conn:
            assert conn.recv(4096).startswith(b"POST /siteverify ")
            worker.join(60)
            assert not worker.is_alive() and outcome == [False]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "answer",
    [
        {"hostname": "phishing.example"},  # solved on another site with our public site key
        {"hostname": "testserver.phishing.example"},
        {"hostname": ""},
        {"hostname": None},
        {"hostname": ["testserver"]},
        {},  # no hostname at all
    ],
)
def test_an_answer_for_another_hostname_fails_closed(
    adapter: type[SiteVerify], stub: tuple[Stub, str], answer: dict[str, object]
) -> None:
    state, url = stub
    state.answer = answer
    assert adapter(secret=SECRET, verify_url=url).verify(GOOD_TOKEN, CLIENT_IP) is False
    assert len(state.requests) == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_expected_hostnames_default_to_allowed_hosts(
    adapter: type[SiteVerify], stub: tuple[Stub, str], settings: Any
) -> None:
    state, url = stub
    verifier = adapter(secret=SECRET, verify_url=url)
    settings.ALLOWED_HOSTS = [".example.com"]
    for hostname, passed in [
        ("example.com", True),
        ("login.example.com", True),
        ("LOGIN.Example.com", True),
        ("testserver", False),
        ("example.com.phishing.example", False),
    ]:
        state.answer = {"hostname": hostname}
        assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is passed, hostname


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_hostnames_setting_names_the_expected_hostnames(
    adapter: type[SiteVerify], stub: tuple[Stub, str]
) -> None:
    state, url = stub
    verifier = adapter(secret=SECRET, verify_url=url, hostnames=["login.example.com"])
    state.answer = {"hostname": "login.example.com"}
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is True
    state.answer = {"hostname": SITE}  # allowed by Django, not by HOSTNAMES
    assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is False
    anywhere = adapter(secret=SECRET, verify_url=url, hostnames=["*"])
    state.answer = {}  # "*" turns the check off (an app whose answers carry no hostname)
    assert anywhere.verify(GOOD_TOKEN, CLIENT_IP) is True


V3 = {"hostname": SITE, "score": 0.9, "action": "login"}


@pytest.mark.parametrize(
    ("answer", "passed"),
    [
        (V3, True),
        ({**V3, "score": 0.5}, True),  # at least the minimum
        ({**V3, "score": 0.49}, False),
        ({**V3, "score": 0.0}, False),
        ({**V3, "score": "0.9"}, False),
        ({**V3, "score": True}, False),
        ({**V3, "score": None}, False),
        ({**V3, "action": "signup"}, False),  # a token made for another of the site's forms
        ({**V3, "action": ""}, False),
        ({**V3, "action": None}, False),
        ({"hostname": SITE, "action": "login"}, False),  # v3 without a score
        ({"hostname": SITE, "score": 0.9}, False),  # v3 without an action
        ({**V3, "hostname": "phishing.example"}, False),
        ({"hostname": SITE}, True),  # a v2 answer carries neither
    ],
)
def test_recaptcha_v3_checks_action_and_score(
    stub: tuple[Stub, str], answer: dict[str, object], passed: bool
) -> None:
    state, url = stub
    state.answer = answer
    assert ReCaptcha(secret=SECRET, verify_url=url).verify(GOOD_TOKEN, CLIENT_IP) is passed


def test_recaptcha_v3_action_and_minimum_score_are_settings(stub: tuple[Stub, str]) -> None:
    state, url = stub
    verifier = ReCaptcha(secret=SECRET, verify_url=url, action="sign_in", min_score=0.7)
    for answer, passed in [
        ({**V3, "action": "sign_in", "score": 0.7}, True),
        ({**V3, "action": "sign_in", "score": 0.69}, False),
        ({**V3, "action": "login", "score": 0.9}, False),
    ]:
        state.answer = answer
        assert verifier.verify(GOOD_TOKEN, CLIENT_IP) is passed, answer


def test_bad_captcha_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="TIMEOUT"):
        Turnstile(secret=SECRET, timeout=0)
    with pytest.raises(ValueError, match="VERIFY_URL"):
        Turnstile(secret=SECRET, verify_url="ftp://example.com/siteverify")
    with pytest.raises(ValueError, match="HOSTNAMES"):
        Turnstile(secret=SECRET, hostnames="example.com")
    with pytest.raises(ValueError, match="HOSTNAMES"):
        Turnstile(secret=SECRET, hostnames=[""])
    with pytest.raises(ValueError, match="VERIFY_URL"):
        Turnstile(secret=SECRET, verify_url="https://example.com:99999/siteverify")
    with pytest.raises(ValueError, match="MIN_SCORE"):
        ReCaptcha(secret=SECRET, min_score=1.5)
    with pytest.raises(ValueError, match="ACTION"):
        ReCaptcha(secret=SECRET, action="")


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
