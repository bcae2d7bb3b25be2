"""The shared store under gunicorn: the test project served by 4 sync worker processes, each
with its own guard on one shared-store policy file. The CAPTCHA step appears after the 4th
wrong password whichever worker answers each request."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from gunicorn_support import HANG_GUARD_S, project_env, start_gunicorn, stop_gunicorn

import loginguard
from loginguard import Action, Reason

WORKERS = 4
ACCOUNTS = [f"user{i}" for i in range(16)]
PASSWORD = "right-pw"
CHALLENGE = 'id="loginguard-challenge"'
LOGIN_FORM = 'id="login"'


@dataclass
class Response:
    status: int
    worker: str
    text: str
    headers: http.client.HTTPMessage


@dataclass
class Server:
    port: int
    policy_file: Path

    def request(self, method: str, path: str, body: str = "", cookie: str = "") -> Response:
        """One request on a fresh connection, so that any worker may accept it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HANG_GUARD_S)
        try:
            headers = {"Connection": "close"}
            if body:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            if cookie:
                headers["Cookie"] = cookie
            conn.request(method, path, body=body or None, headers=headers)
            r = conn.getresponse()
            text = r.read().decode()
            return Response(r.status, r.headers.get("X-Worker-Pid", ""), text, r.headers)
        finally:
            conn.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    policy_file = tmp_path / "loginguard.toml"
    # The network counter is off so that every attempt coming from 127.0.0.1 does not put the
    # network itself over its CAPTCHA threshold while the test loops over accounts.
    policy_file.write_text(
        "[ip]\nenabled = false\n\n"
        f'[store]\nkind = "shared"\npath = "{tmp_path / "counters.lgs"}"\ncapacity = 4096\n'
    )
    env = project_env(tmp_path, policy_file, ACCOUNTS, PASSWORD)

    proc, port = start_gunicorn(env, tmp_path / "gunicorn.log", WORKERS)
    try:
        yield Server(port, policy_file)
    finally:
        stop_gunicorn([proc])


def _csrf(server: Server) -> tuple[str, str]:
    """The login page's CSRF cookie and form token."""
    r = server.request("GET", "/accounts/login/")
    assert r.status == 200, r.text
    cookie = SimpleCookie(r.headers["Set-Cookie"])["csrftoken"].value
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', r.text)
    assert token, r.text
    return f"csrftoken={cookie}", token.group(1)


def _login(server: Server, csrf: tuple[str, str], username: str, password: str) -> Response:
    body = urlencode({"csrfmiddlewaretoken": csrf[1], "username": username, "password": password})
    return server.request("POST", "/accounts/login/", body=body, cookie=csrf[0])


def test_captcha_after_the_4th_failure_whichever_worker_answers(server: Server) -> None:
    # The test process reads the same counters as the workers.
    observer = loginguard.Guard.from_policy_file(server.policy_file)
    workers: set[str] = set()
    spread = []  # accounts whose 4 failures were answered by 2 or more workers
    for account in ACCOUNTS:
        csrf = _csrf(server)
        failed_on = []
        for i in range(1, 4):
            r = _login(server, csrf, account, f"wrong {i}")
            assert r.status == 200 and r.worker, f"{account} failure {i}: {r.status}"
            assert LOGIN_FORM in r.text and CHALLENGE not in r.text, f"{account} failure {i}"
            failed_on.append(r.worker)
        r = _login(server, csrf, account, "wrong 4")
        assert r.status == 200 and CHALLENGE in r.text, (
            f"{account}: no CAPTCHA step after the 4th failure (workers {[*failed_on, r.worker]})"
        )
        failed_on.append(r.worker)
        d = observer.check(account=account, ip="127.0.0.1")
        assert (d.action, d.reason, d.failures) == (Action.CHALLENGE, Reason.ACCOUNT, 4)
        # The right password without the CAPTCHA: every worker asks for it and logs nobody in.
        for _ in range(WORKERS):
            r = _login(server, csrf, account, PASSWORD)
            assert r.status == 200, f"{account}: {r.status} {r.headers.get('Location')}"
            assert CHALLENGE in r.text, account
            assert not any("sessionid" in c for c in r.headers.get_all("Set-Cookie", []))
            workers.add(r.worker)
        workers.update(failed_on)
        if len(set(failed_on)) >= 2:
            spread.append(account)
        if len(spread) >= 2 and len(workers) >= 3:
            break
    assert len(workers) >= 2, f"every request went to one worker: {workers}"
    assert spread, f"no account's failures were answered by 2 workers (workers seen: {workers})"
