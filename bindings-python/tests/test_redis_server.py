"""A redis-server of the test's own on a free loopback port, for the redis-store tests: started
by the fixture, stopped by its pid. Without redis-server the tests are skipped, or fail when
``LG_REQUIRE_REDIS=1`` (as under ``make``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

HANG_GUARD_S = 30  # an overall bound on waiting for the server, never a timing assertion


@dataclass
class RedisServer:
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self, *args: str) -> str:
        """One command through redis-cli (the tests need no Python Redis client)."""
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=HANG_GUARD_S,
        )
        return done.stdout

    def policy(self, extra: str = "", *, timeout: str = "5s") -> str:
        """A policy on this server (the host clock: manual clocks work). The default deadline
        is for a loaded test machine, where a slow call must not come back degraded; tests
        of a frozen server set a short one."""
        return (
            f'{extra}\n[store]\nkind = "redis"\nurl = "{self.url}"\ntimeout = "{timeout}"\n'
            'clock = "host"\n'
        )

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def require_redis() -> None:
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        return
    if os.environ.get("LG_REQUIRE_REDIS") == "1":
        pytest.fail("redis-server is not installed, and LG_REQUIRE_REDIS=1 requires it")
    pytest.skip("redis-server is not installed (LG_REQUIRE_REDIS=1 fails instead)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


START_TRIES = 3  # a port taken between free_port() and redis-server's bind: another port


def start_on_free_port(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A redis-server answering PING, and its port."""
    for _ in range(START_TRIES):
        port = free_port()
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + HANG_GUARD_S
        while proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return proc, port
            except OSError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"redis-server on port {port} did not answer")
            time.sleep(0.02)
    pytest.fail(f"redis-server exited at start on {START_TRIES} free ports")


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A fresh redis-server, stopped (and thawed first, if frozen) on exit."""
    require_redis()
    proc, port = start_on_free_port(directory)
    try:
        yield RedisServer(port, proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_fixture_starts_a_server_that_answers(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        assert server.command("PING").strip() == "PONG"
