"""The binding on the redis store: counters shared by guards on one server, the GIL released
while a call waits on Redis, the awaitable calls (never blocking the event loop, complete at
once on the memory store, cancellation), and a guard used by both sides of ``fork()``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_redis_server import RedisServer, redis_server

import loginguard
from loginguard import Action, Reason

HANG_GUARD_S = 60  # overall bounds on waiting, never timing assertions
ALICE: dict[str, Any] = {"account": "alice", "ip": "203.0.113.7"}


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


def account_failures(guard: loginguard.Guard, account: str) -> int:
    dims = guard.inspect(account=account).dimensions
    return next(d.failures for d in dims if d.dimension == "account")


def test_two_guards_on_one_server_share_the_counters(redis: RedisServer) -> None:
    a = loginguard.Guard(redis.policy(), manual_clock=True)
    b = loginguard.Guard(redis.policy(), manual_clock=True)
    for i in range(3):
        d = (a if i % 2 else b).record_failure(**ALICE)
        assert d.action is Action.ALLOW and not d.degraded
    d = a.record_failure(**ALICE)
    assert (d.action, d.reason, d.failures, d.degraded) == (
        Action.CHALLENGE,
        Reason.ACCOUNT,
        4,
        False,
    )
    assert b.check(**ALICE).action is Action.CHALLENGE


def test_two_guards_on_one_server_share_the_site_wide_window(redis: RedisServer) -> None:
    site = '[site]\nchallenge_when = "10/1m"'
    a = loginguard.Guard(redis.policy(site), manual_clock=True)
    b = loginguard.Guard(redis.policy(site), manual_clock=True)
    for i in range(11):
        (a if i % 2 else b).record_failure(account=f"user{i}", ip=f"10.0.{i}.1")
    state = b.site_state()
    assert state is not None
    assert (state.rate, state.trigger, state.active) == (11, 10, True)
    d = a.check(**ALICE)
    assert (d.action, d.reason, d.failures) == (Action.CHALLENGE, Reason.SITE, 11)
    stats_site = a.stats().site
    assert stats_site is not None and stats_site.active


def test_a_call_waiting_on_a_frozen_server_lets_other_threads_run(redis: RedisServer) -> None:
    guard = loginguard.Guard(redis.policy(timeout="1500ms"))
    guard.check(**ALICE)  # connected
    started = threading.Event()
    outcome: list[object] = []

    def blocked_call() -> None:
        started.set()
        try:
            outcome.append(guard.begin(**ALICE))
        except loginguard.StoreError as e:
            outcome.append(e)

    redis.freeze()
    try:
        worker = threading.Thread(target=blocked_call)
        worker.start()
        assert started.wait(HANG_GUARD_S)
        progress = 0
        while worker.is_alive():
            progress += 1  # only runs while the worker's call has released the GIL
        worker.join(HANG_GUARD_S)
    finally:
        redis.thaw()
    assert progress > 10_000, progress
    assert len(outcome) == 1
    result = outcome[0]
    assert isinstance(result, loginguard.StoreError) or (
        isinstance(result, loginguard.Decision) and result.degraded
    ), result
    # Answers again once the server does (a reconnect may take a call or two).
    deadline = time.monotonic() + HANG_GUARD_S
    while guard.check(**ALICE).degraded:
        assert time.monotonic() < deadline, "no recovery"
        time.sleep(0.05)


def test_awaitable_calls_match_the_sync_ones(redis: RedisServer) -> None:
    guard = loginguard.Guard(redis.policy(), manual_clock=True)

    async def scenario() -> None:
        for _ in range(3):
            d = await guard.abegin(**ALICE)
            assert d.action is Action.ALLOW
        d = await guard.arecord_failure(**ALICE)
        assert (d.action, d.reason, d.failures) == (Action.CHALLENGE, Reason.ACCOUNT, 4)
        assert (await guard.acheck(**ALICE)) == guard.check(**ALICE)
        inspection = await guard.ainspect(**ALICE)
        assert inspection.decision.action is Action.CHALLENGE
        assert await guard.arecord_success(**ALICE, after_begin=False) is None
        await guard.areset_ip(ALICE["ip"])
        await guard.areset_account("alice")
        assert (await guard.acheck(**ALICE)).action is Action.ALLOW
        with pytest.raises(TypeError):
            await guard.acheck(account=1)  # type: ignore[arg-type]
        with pytest.raises(loginguard.InvalidIpError):
            await guard.acheck(account="alice", ip="not an address")

    asyncio.run(scenario())


def test_a_redis_awaitable_needs_a_running_loop(redis: RedisServer) -> None:
    guard = loginguard.Guard(redis.policy())
    with pytest.raises(RuntimeError):
        guard.acheck(**ALICE)


def test_the_event_loop_runs_while_a_call_waits_on_a_frozen_server(
    redis: RedisServer,
) -> None:
    guard = loginguard.Guard(redis.policy(timeout="1500ms"))
    guard.check(**ALICE)  # connected

    async def scenario() -> tuple[int, object]:
        ticks = 0
        call = asyncio.ensure_future(guard.abegin(**ALICE))
        while not call.done():
            ticks += 1
            await asyncio.sleep(0.001)
        try:
            return ticks, call.result()
        except loginguard.StoreError as e:
            return ticks, e

    redis.freeze()
    try:
        ticks, result = asyncio.run(scenario())
    finally:
        redis.thaw()
    assert ticks > 20, ticks  # the loop kept running through the wait
    assert isinstance(result, loginguard.StoreError) or (
        isinstance(result, loginguard.Decision) and result.degraded
    ), result


def test_cancelling_the_awaiting_task_leaves_the_counters_whole(redis: RedisServer) -> None:
    guard = loginguard.Guard(redis.policy(timeout="1s"), manual_clock=True)

    async def scenario() -> None:
        redis.freeze()
        try:
            task = asyncio.ensure_future(guard.arecord_failure(**ALICE))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            redis.thaw()
        # The started call finishes (or times out) on its own; the guard goes on counting.
        for _ in range(3):
            await guard.arecord_failure(**ALICE)

    asyncio.run(scenario())  # waits for the executor's calls at shutdown
    assert account_failures(guard, "alice") in (3, 4)
    d = guard.record_failure(**ALICE)
    assert not d.degraded and d.failures == account_failures(guard, "alice")


def test_memory_awaitables_are_complete_when_returned() -> None:
    guard = loginguard.Guard(manual_clock=True)
    pending = guard.arecord_failure(**ALICE)
    assert not isinstance(pending, asyncio.Future)
    threads = threading.active_count()

    async def scenario() -> None:
        for _ in range(2):
            await guard.arecord_failure(**ALICE)
        d = await pending  # made when arecord_failure was called
        assert d.failures == 1
        with pytest.raises(RuntimeError):
            await pending  # an awaitable is awaited once
        assert (await guard.acheck(**ALICE)).failures == 3
        with pytest.raises(TypeError):
            await guard.abegin(account=b"alice")  # type: ignore[arg-type]
        assert await guard.areset_account("alice") is None

    asyncio.run(scenario())
    assert threading.active_count() == threads  # no executor thread was started
    assert guard.check(**ALICE).failures == 0


FORK_SCRIPT = """
import os, sys, loginguard
guard = loginguard.Guard(sys.argv[1])
n = int(sys.argv[2])
guard.record_failure(account="forked")  # the parent's connection exists before fork()
pid = os.fork()
for _ in range(n if pid == 0 else n - 1):
    d = guard.record_failure(account="forked")
    assert not d.degraded, d
if pid == 0:
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
dims = guard.inspect(account="forked").dimensions
print(next(d.failures for d in dims if d.dimension == "account"))
"""


def test_parent_and_child_of_fork_count_on_one_server(redis: RedisServer) -> None:
    n = 200
    policy = redis.policy("[account]\nchallenge_after = 1000\nlock_after = 1000")
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, policy, str(n)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 2 * n, "failures were lost between the parent and the child"
    assert int(redis.command("DBSIZE")) > 0


def test_bad_redis_settings_are_a_policy_error() -> None:
    with pytest.raises(loginguard.PolicyError):
        loginguard.Guard('[store]\nkind = "redis"\nurl = "http://127.0.0.1:1"\n')


def test_a_stopped_server_gives_degraded_decisions(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        policy = server.policy(timeout="200ms")
        guard = loginguard.Guard(policy)
        assert not guard.begin(**ALICE).degraded
    d = guard.begin(**ALICE)  # the server is gone: on_error's decision, within the timeout
    assert d.degraded and d.action is Action.CHALLENGE
    with pytest.raises(loginguard.StoreError):
        loginguard.Guard(policy)  # a new guard cannot reach it: a clear error, no guard


def test_stats_carry_the_redis_figures(redis: RedisServer) -> None:
    assert loginguard.Guard(manual_clock=True).stats().redis is None
    guard = loginguard.Guard(redis.policy(timeout="500ms"), manual_clock=True)
    for _ in range(11):
        guard.record_failure(**ALICE)  # the account (and network) locked
    guard.check(**ALICE)  # answered by the lock cache
    stats = guard.stats()
    r = stats.redis
    assert isinstance(r, loginguard.RedisStats)
    assert r.round_trips >= 11 and r.errors == 0 and r.degraded == 0
    assert r.lock_cache_hits == 1 and r.cas_exhausted == 0
    assert r.meta_mismatches == 0 and r.policy_mismatches == 0 and r.meta_healed == 0
    assert r.circuit_open is False and r.may_evict_counters is False
    assert r.evicted_keys == 0 and r.used_memory is not None and r.used_memory > 0
    assert "redis=RedisStats(round_trips=" in repr(stats)
    redis.command("del", "lg1:meta")
    assert guard.stats().redis.meta_healed == 1  # type: ignore[union-attr]
    redis.freeze()
    try:
        for _ in range(3):
            assert guard.check(account="bob").degraded
    finally:
        redis.thaw()
    r = guard.stats().redis
    assert r is not None and r.errors == 3 and r.degraded == 3


def test_the_prometheus_collector_exposes_the_redis_figures(redis: RedisServer) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from loginguard.prometheus import LoginGuardCollector

    guard = loginguard.Guard(redis.policy(), manual_clock=True)
    guard.record_failure(**ALICE)
    registry = CollectorRegistry()
    registry.register(LoginGuardCollector(guard))
    lines = generate_latest(registry).decode().splitlines()
    values = {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in lines if not line.startswith("#"))
    }
    for name in (
        "round_trips",
        "errors",
        "degraded",
        "cas_retries",
        "cas_exhausted",
        "lock_cache_hits",
        "meta_healed",
        "meta_mismatches",
        "evicted_keys",
    ):
        assert f"# TYPE loginguard_redis_{name}_total counter" in lines, name
    for name in ("circuit_open", "may_evict_counters", "used_memory_bytes"):
        assert f"# TYPE loginguard_redis_{name} gauge" in lines, name
    assert values["loginguard_redis_round_trips_total"] >= 1
    assert values["loginguard_redis_errors_total"] == 0
    assert values["loginguard_redis_circuit_open"] == 0
    assert values["loginguard_redis_used_memory_bytes"] > 0
    # A memory guard has none of them.
    registry = CollectorRegistry()
    registry.register(LoginGuardCollector(loginguard.Guard(manual_clock=True)))
    assert "loginguard_redis" not in generate_latest(registry).decode()
