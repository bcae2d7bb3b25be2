"""Two hosts on one Redis: the test project under two gunicorn masters on two ports (2 sync
workers each), both on one redis-store policy file. Requests alternate between the hosts; the
CAPTCHA step appears after the 4th wrong password whichever host answers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn_support import project_env, start_gunicorn, stop_gunicorn
from test_gunicorn import CHALLENGE, LOGIN_FORM, PASSWORD, Server, _csrf, _login
from test_redis_server import RedisServer, redis_server

import loginguard
from loginguard import Action, Reason

HOSTS = 2
WORKERS = 2
ACCOUNTS = [f"user{i}" for i in range(4)]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def hosts(tmp_path: Path, redis: RedisServer) -> Iterator[list[Server]]:
    policy_file = tmp_path / "loginguard.toml"
    # The network counter is off: every attempt comes from 127.0.0.1.
    policy_file.write_text(
        f'[ip]\nenabled = false\n\n[store]\nkind = "redis"\nurl = "{redis.url}"\n'
    )
    env = project_env(tmp_path, policy_file, ACCOUNTS, PASSWORD)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        servers = []
        for i in range(HOSTS):
            proc, port = start_gunicorn(env, tmp_path / f"gunicorn-{i}.log", WORKERS)
            procs.append(proc)
            servers.append(Server(port, policy_file))
        yield servers
    finally:
        stop_gunicorn(procs)


def test_captcha_after_the_4th_failure_whichever_host_answers(hosts: list[Server]) -> None:
    observer = loginguard.Guard.from_policy_file(hosts[0].policy_file)
    n = 0
    for account in ACCOUNTS:
        csrf = _csrf(hosts[n % HOSTS])
        for i in range(1, 4):
            n += 1
            r = _login(hosts[n % HOSTS], csrf, account, f"wrong {i}")
            assert r.status == 200 and r.worker, f"{account} failure {i}: {r.status}"
            assert LOGIN_FORM in r.text and CHALLENGE not in r.text, f"{account} failure {i}"
        n += 1
        r = _login(hosts[n % HOSTS], csrf, account, "wrong 4")
        assert r.status == 200 and CHALLENGE in r.text, f"{account}: no CAPTCHA step"
        d = observer.check(account=account, ip="127.0.0.1")
        assert (d.action, d.reason, d.failures, d.degraded) == (
            Action.CHALLENGE,
            Reason.ACCOUNT,
            4,
            False,
        )
        # The right password without the CAPTCHA: both hosts ask for it, log nobody in.
        for host in hosts:
            r = _login(host, csrf, account, PASSWORD)
            assert r.status == 200 and CHALLENGE in r.text, account
            assert not any("sessionid" in c for c in r.headers.get_all("Set-Cookie", []))
