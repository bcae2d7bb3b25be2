"""Replays every case in conformance/ (format in its README), as core/tests/conformance.rs does."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

import loginguard

CASES = sorted((Path(__file__).resolve().parents[2] / "conformance").glob("*.lgc"))


def parse_args(words: list[str]) -> tuple[dict[str, str], set[str]]:
    kwargs: dict[str, str] = {}
    flags: set[str] = set()
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            flags.add(w)
        elif key in ("account", "ip", "device"):
            kwargs[key] = unquote(value, errors="strict")
        else:
            raise AssertionError(f"unknown argument {key}")
    return kwargs, flags


def render(decision: loginguard.Decision) -> str:
    out = str(decision.action.value)
    if decision.reason is not None:
        out += f" {decision.reason.value}"
    if decision.retry_after_ms is not None:
        out += f" retry={decision.retry_after_ms}"
    return out + f" failures={decision.failures}"


def concurrent_begin(guard: loginguard.Guard, n: int, kwargs: dict[str, Any], passed: bool) -> int:
    barrier = threading.Barrier(n)
    through: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        d = guard.begin(**kwargs, challenge_passed=passed)
        with lock:
            through.append(d.lets_password_be_checked(passed))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(through) == n
    return sum(through)


def step(guard: loginguard.Guard, op: str, words: list[str]) -> str | None:
    if op == "advance":
        guard.advance_ms(int(words[0]))
        return None
    if op == "reset_account":
        guard.reset_account(unquote(words[0]))
        return None
    if op == "reset_ip":
        guard.reset_ip(unquote(words[0]))
        return None
    if op == "concurrent":
        n = int(words[0])
        assert words[1] == "begin"
        kwargs, flags = parse_args(words[2:])
        return f"through {concurrent_begin(guard, n, kwargs, 'passed' in flags)}"
    kwargs, flags = parse_args(words)
    try:
        if op == "check":
            return render(guard.check(**kwargs))
        if op == "begin":
            return render(guard.begin(**kwargs, challenge_passed="passed" in flags))
        if op == "failure":
            return render(guard.record_failure(**kwargs))
        if op == "success":
            guard.record_success(**kwargs, after_begin="after_begin" in flags)
            return "ok"
    except loginguard.LoginGuardError as e:
        return f"error {e.kind}"
    raise AssertionError(f"unknown step {op}")


def test_every_case_is_found() -> None:
    assert len(CASES) >= 38


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    policy: list[str] = []
    guard: loginguard.Guard | None = None
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("policy "):
            assert guard is None, "policy after the first step"
            policy.append(line[len("policy ") :])
            continue
        if guard is None:
            guard = loginguard.Guard("\n".join(policy), manual_clock=True)
        stepped, arrow, expect = line.partition(" -> ")
        words = stepped.split()
        times = 1
        if words[0] == "repeat":
            times = int(words[1])
            words = words[2:]
        got = None
        for _ in range(times):
            got = step(guard, words[0], words[1:])
        if arrow:
            assert got == expect.strip(), f"{path.name}:{n}: {line}"
