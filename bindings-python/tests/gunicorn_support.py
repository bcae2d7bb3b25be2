"""The test project under gunicorn: a master with sync workers on a free loopback port,
started and waited for, then stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
HANG_GUARD_S = 120  # an overall bound on waiting for gunicorn, never a timing assertion


def project_env(
    tmp_path: Path, policy_file: Path, accounts: Iterable[str], password: str
) -> dict[str, str]:
    """The environment that runs the test project on `policy_file`, with its database in
    `tmp_path` migrated and holding a user per account, all with `password`."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "django_project.settings",
        "PYTHONPATH": str(TESTS_DIR),
        "LOGINGUARD_POLICY_FILE": str(policy_file),
        "LOGINGUARD_TEST_DB": str(tmp_path / "db.sqlite3"),
        "LOGINGUARD_TEST_ALLOWED_HOSTS": "127.0.0.1",
        "LOGINGUARD_MANUAL_CLOCK": "0",
        "LOGINGUARD_TEST_WORKER_HEADER": "1",
    }
    _manage(env, "migrate", "--noinput")
    users = "; ".join(f"User.objects.create_user({a!r}, password={password!r})" for a in accounts)
    _manage(env, "shell", "-c", f"from django.contrib.auth.models import User; {users}")
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env,
        cwd=TESTS_DIR,
        check=True,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )


def start_gunicorn(
    env: dict[str, str], log: Path, workers: int
) -> tuple[subprocess.Popen[bytes], int]:
    """Starts gunicorn on 127.0.0.1 with `workers` sync workers, its output in `log`; returns
    it and its port once it listens and has booted every worker (killing it if it does not)."""
    with log.open("wb") as log_out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                "127.0.0.1:0",
                "--config",
                "/dev/null",
                "django_project.wsgi",
            ],
            env=env,
            cwd=TESTS_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log_out,
            stderr=log_out,
        )
    try:
        return proc, _wait_until_listening(proc, log, workers)
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _wait_until_listening(proc: subprocess.Popen[bytes], log: Path, workers: int) -> int:
    """Polls gunicorn's log until it listens and has booted every worker; returns the port."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        text = log.read_text()
        port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        if port and len(re.findall(r"Booting worker with pid", text)) >= workers:
            return int(port.group(1))
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}:\n{text}")
        if time.monotonic() > deadline:
            pytest.fail(f"gunicorn did not start within {HANG_GUARD_S} s:\n{text}")
        time.sleep(0.05)


def stop_gunicorn(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """Terminates every master, then waits for each (killing one that does not stop)."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
