"""Fixtures for the example sites' browser tests: the local test CAPTCHA, each site's server on a
free 127.0.0.1 port (started here, stopped by pid), and headless Chromium through the system
chromedriver.

Every test comes from its own network: the sites trust 127.0.0.1 as a reverse proxy in these
tests, and Chromium adds ``X-Forwarded-For`` to each request it sends (DevTools'
``Network.setExtraHTTPHeaders``), so one test's failures never block another's.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

EXAMPLES = Path(__file__).resolve().parent.parent
REPO = EXAMPLES.parent
DJANGO_SITE = EXAMPLES / "django-site"
EXPRESS_SITE = EXAMPLES / "express-site"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
#: Where the key pages' screenshots go (make example-screenshots: examples/screenshots).
SCREENSHOTS = Path(
    os.environ.get("EXAMPLES_SCREENSHOTS_DIR", REPO / "build" / "example-screenshots")
)
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(port: int, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Waits until the server answers ``GET path``; fails with its log if it exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer on port {port}:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    """Stops a server this suite started, by its pid; fails when it had exited by itself."""
    if process.poll() is not None:
        if log is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="loginguard-examples-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def captcha_url(workdir: Path) -> Iterator[str]:
    log = workdir / "captcha.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "local-captcha" / "server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=out,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("local CAPTCHA on "):
            raise RuntimeError(f"the local CAPTCHA did not start: {line!r} {log.read_text()}")
        yield line.split()[-1]
    finally:
        stop(process)
        process.stdout.close()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def django_url(workdir: Path, captcha_url: str) -> Iterator[str]:
    data = workdir / "django"
    data.mkdir()
    env = {
        **os.environ,
        "DEMO_DATA_DIR": str(data),
        "LOCAL_CAPTCHA_URL": captcha_url,
        "DEMO_TRUSTED_PROXIES": "127.0.0.1/32",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("TURNSTILE_SECRET", None)
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "-v0"], ["seed_demo"]):
        subprocess.run(manage + command, cwd=DJANGO_SITE, env=env, check=True, capture_output=True)
    port = free_port()
    log = workdir / "django.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=DJANGO_SITE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(port, "/accounts/login/", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, log)


@pytest.fixture(scope="session")
def express_url(workdir: Path, captcha_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LOCAL_CAPTCHA_URL": captcha_url,
        "TRUST_PROXY": "loopback",
    }
    env.pop("TURNSTILE_SECRET", None)
    log = workdir / "express.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["node", str(EXPRESS_SITE / "server.js")], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_serving(port, "/login", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, log)


@pytest.fixture
def new_browser(workdir: Path) -> Iterator[object]:
    """Starts headless Chromium sessions, each with a fresh profile; all quit after the test."""
    drivers: list[webdriver.Chrome] = []

    def start() -> webdriver.Chrome:
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                pytest.fail(
                    f"{path} is missing: make test-examples installs chromium and chromium-driver"
                )
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=820,620",
            f"--user-data-dir={tempfile.mkdtemp(prefix='profile-', dir=workdir)}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
