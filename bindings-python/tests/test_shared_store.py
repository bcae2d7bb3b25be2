"""The shared store through Python: several processes, one set of counters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import loginguard
from loginguard import Action


def shared_policy(path: Path, capacity: int = 4096) -> str:
    return f'[store]\nkind = "shared"\npath = "{path}"\ncapacity = {capacity}\n'


def test_another_process_sees_and_clears_the_counters(tmp_path: Path) -> None:
    policy = shared_policy(tmp_path / "counters.lgs")
    guard = loginguard.Guard(policy, manual_clock=True)
    child = f"""
import loginguard
g = loginguard.Guard({policy!r}, manual_clock=True)
for _ in range(4):
    d = g.record_failure(account="alice", ip="203.0.113.7")
print(d)
"""
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "challenge account failures=4"
    assert guard.check(account="alice", ip="203.0.113.7").failures == 4
    guard.record_failure(account="alice")
    reset = f"""
import loginguard
g = loginguard.Guard({policy!r}, manual_clock=True)
print(g.check(account="alice"))
g.reset_account("alice")
"""
    out = subprocess.run(
        [sys.executable, "-c", reset], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "challenge account failures=5"
    assert guard.check(account="alice").action is Action.ALLOW


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(loginguard.StoreError) as info:
        loginguard.Guard(shared_policy(tmp_path / "missing-dir" / "counters.lgs"))
    assert info.value.kind == "store"
    assert not isinstance(info.value, ValueError)
    path = tmp_path / "counters.lgs"
    loginguard.Guard(shared_policy(path))
    with pytest.raises(loginguard.StoreError, match="capacity"):
        loginguard.Guard(shared_policy(path, capacity=8192))
