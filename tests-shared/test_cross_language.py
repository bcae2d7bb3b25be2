"""The shared store across languages: Python, Node, C and the Rust CLI, each a separately
compiled copy of the core in its own process, count on one memory-mapped table. Each records
failures in turn and sees the count the others left; a reset in one is seen by the next. This
holds only if every copy fingerprints keys and lays out slots identically.

Run by `make test-shared`, which builds what it runs (LG_C_OP names the C program)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests-shared"
C_OP = Path(os.environ.get("LG_C_OP", ROOT / "build" / "shared" / "lg_op"))
CLI = ROOT / "target" / "release" / "loginguard"
LANGS = ["python", "node", "c", "rust-cli"]
ACCOUNTS = ["alice", "bob", "carol", "dave"]


def ip_of(k: int) -> str:
    # One network per account, so that no network goes over its own thresholds.
    return f"203.0.113.{k + 1}"


def decision(action: str, reason: str | None, failures: int) -> dict[str, Any]:
    return {"action": action, "reason": reason, "failures": failures, "degraded": False}


def allow(failures: int) -> dict[str, Any]:
    return decision("allow", None, failures)


CHALLENGE_4 = decision("challenge", "account", 4)


def command(lang: str, policy: Path, op: str, account: str, ip: str) -> list[str]:
    if lang == "python":
        return [sys.executable, str(HERE / "lg_op.py"), str(policy), op, account, ip]
    if lang == "node":
        return ["node", str(HERE / "lg_op.cjs"), str(policy), op, account, ip]
    if lang == "c":
        return [str(C_OP), str(policy), op, account, ip]
    assert lang == "rust-cli"
    p = ["--policy", str(policy), "--json"]
    if op == "record-failure":
        return [str(CLI), "record-failure", *p, "--account", account, "--ip", ip]
    if op == "check":
        return [str(CLI), "inspect", *p, "--account", account, "--ip", ip]
    return [str(CLI), "reset-account", *p, account]


Run = Callable[[str, str, int], dict[str, Any]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Runs one operation in a new process of the given language, on one shared-store policy."""
    for program in (C_OP, CLI):
        assert program.is_file(), f"{program} is missing: run `make test-shared`"
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'[store]\nkind = "shared"\npath = "{tmp_path / "counters.store"}"\ncapacity = 4096\n'
    )

    def run(lang: str, op: str, k: int) -> dict[str, Any]:
        argv = command(lang, policy, op, ACCOUNTS[k], ip_of(k))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{lang} {op}: exit {done.returncode}\n{done.stderr}"
        out: dict[str, Any] = json.loads(done.stdout)
        if lang == "rust-cli" and op == "check":
            out = out["decision"]
        out.pop("retry_after_ms", None)
        return out

    return run


def test_each_language_sees_the_failures_the_others_recorded(run: Run) -> None:
    for k, account in enumerate(ACCOUNTS):
        turn = LANGS[k:] + LANGS[:k]  # alice: python first; bob: node first; ...
        assert run(turn[0], "check", k) == allow(0), f"{account} starts untouched"
        for n, lang in enumerate(turn, 1):
            want = CHALLENGE_4 if n == 4 else allow(n)
            assert run(lang, "record-failure", k) == want, f"{lang}: failure {n} on {account}"
        for lang in LANGS:
            assert run(lang, "check", k) == CHALLENGE_4, f"{lang} reads {account}"


def test_a_reset_in_one_language_is_seen_by_another(run: Run) -> None:
    for k in range(len(ACCOUNTS)):
        for lang in LANGS:
            run(lang, "record-failure", k)
    for k, account in enumerate(ACCOUNTS):
        resetter, reader = LANGS[k], LANGS[(k + 1) % len(LANGS)]
        assert run(reader, "check", k) == CHALLENGE_4, f"{reader} reads {account}"
        run(resetter, "reset-account", k)
        assert run(reader, "check", k) == allow(0), f"{reader} after {resetter}'s reset"
        assert run(reader, "record-failure", k) == allow(1), f"{reader} counts again from 0"
        # Only that account was cleared.
        for later in range(k + 1, len(ACCOUNTS)):
            assert run(resetter, "check", later) == CHALLENGE_4, ACCOUNTS[later]
