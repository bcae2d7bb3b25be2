"""The Python API: decisions, errors for every bad input, threads, events."""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import loginguard
from loginguard import Action, Guard, Reason

ALICE = {"account": "alice", "ip": "203.0.113.7"}


@pytest.fixture
def guard() -> Guard:
    return Guard(manual_clock=True)


def test_fourth_failure_challenges(guard: Guard) -> None:
    for n in range(1, 4):
        d = guard.record_failure(**ALICE)
        assert (d.action, d.reason, d.failures) == (Action.ALLOW, None, n)
    d = guard.record_failure(**ALICE)
    assert d.action is Action.CHALLENGE
    assert d.reason is Reason.ACCOUNT
    assert d.failures == 4
    assert d.retry_after_ms is None
    assert guard.check(**ALICE) == d


def test_action_is_a_str_enum(guard: Guard) -> None:
    d = guard.check(**ALICE)
    assert d.action == "allow"
    assert isinstance(d.action, str)
    assert str(d.action) == "allow"
    assert [a.value for a in Action] == ["allow", "challenge", "deny", "reset_required"]


def test_decision_repr_and_immutability(guard: Guard) -> None:
    for _ in range(11):
        d = guard.record_failure(**ALICE)
    assert repr(d) == (
        "Decision(action='deny', reason='account_ip', retry_after_ms=60000, failures=11)"
    )
    assert str(d) == "deny account_ip retry=60000 failures=11"
    with pytest.raises(AttributeError):
        d.failures = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        d.action = Action.ALLOW  # type: ignore[misc]
    assert hash(d) == hash(guard.check(**ALICE))
    assert not d.lets_password_be_checked(challenge_passed=True)


def test_allow_decisions_are_values_shared_between_calls() -> None:
    # The binding hands out one object per common `allow`: nothing may be set on it, and
    # counts past the shared ones still come back right.
    policy = (
        "[account]\nchallenge_after = 200\nlock_after = 300\nreset_after = 400\n"
        "[account_ip]\nlock_after = 300\n[ip]\nchallenge_after = 300\nlock_after = 300\n"
    )
    a, b = Guard(policy, manual_clock=True), Guard(manual_clock=True)
    assert a.check(**ALICE) == b.check(account="bob", ip="198.51.100.1")
    for n in range(1, 100):
        d = a.record_failure(**ALICE)
        assert (d.action, d.reason, d.retry_after_ms, d.failures) == (Action.ALLOW, None, None, n)
    assert not hasattr(d, "__dict__")
    with pytest.raises(AttributeError):
        d.failures = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        d.note = "mine"  # type: ignore[attr-defined]
    assert b.record_failure(account="bob", ip="198.51.100.1").failures == 1


def test_lock_ends_on_the_manual_clock(guard: Guard) -> None:
    for _ in range(11):
        guard.record_failure(**ALICE)
    guard.advance_ms(59_999)
    assert guard.check(**ALICE).retry_after_ms == 1
    guard.advance_ms(1)
    assert guard.check(**ALICE).action is not Action.DENY
    assert guard.now_ms == 60_000


def test_begin_records_in_advance_and_success_takes_it_back(guard: Guard) -> None:
    d = guard.begin(**ALICE)
    assert d.action is Action.ALLOW
    assert guard.check(**ALICE).failures == 1
    guard.record_success(**ALICE, after_begin=True)
    assert guard.check(**ALICE).failures == 0
    assert guard.inspect(ip="203.0.113.7").dimensions[0].failures == 0


def test_challenge_passed_lets_begin_through(guard: Guard) -> None:
    for _ in range(4):
        guard.record_failure(**ALICE)
    d = guard.begin(**ALICE)
    assert d.action is Action.CHALLENGE
    assert not d.lets_password_be_checked()
    assert guard.check(**ALICE).failures == 4
    d = guard.begin(**ALICE, challenge_passed=True)
    assert d.lets_password_be_checked(True)
    assert guard.check(**ALICE).failures == 5


def test_resets(guard: Guard) -> None:
    for i in range(30):
        guard.record_failure(account=f"user{i}", ip="198.51.100.9")
    assert guard.check(ip="198.51.100.9").reason is Reason.IP
    guard.reset_ip(bytes([198, 51, 100, 9]))
    assert guard.check(ip="198.51.100.9").action is Action.ALLOW
    for _ in range(4):
        guard.record_failure(**ALICE)
    guard.reset_account("ALICE ")  # folded like the counters' keys
    assert guard.check(**ALICE).failures == 0


def test_ip_and_device_as_bytes(guard: Guard) -> None:
    for _ in range(4):
        guard.record_failure(account="bob", ip=bytes([203, 0, 113, 7]))
    assert guard.check(account="bob", ip="203.0.113.7").failures == 4
    v6 = bytes.fromhex("20010db8000000000000000000000001")
    guard.record_failure(account="bob", ip=v6)
    assert guard.check(account="bob", ip="2001:db8::ffff").failures == 5
    for _ in range(11):
        guard.record_failure(account="bob", device=b"\x00\xffdev")
    assert guard.check(account="bob", device=b"\x00\xffdev").reason is Reason.DEVICE
    assert guard.check(account="bob", device="other").action is Action.ALLOW


def test_inspect_and_stats(guard: Guard) -> None:
    for _ in range(11):
        guard.record_failure(**ALICE)
    i = guard.inspect(**ALICE)
    assert i.decision == guard.check(**ALICE)
    assert not i.denylisted
    assert [s.dimension for s in i.dimensions] == ["account", "account_ip", "ip", "ip_range"]
    assert i.site is None  # no [site] in the policy
    acct_ip = i.dimensions[1]
    assert (acct_ip.tracked, acct_ip.failures, acct_ip.consecutive) == (True, 11, 11)
    assert acct_ip.locked_until_ms == 60_000
    assert acct_ip.action is Action.DENY
    assert "DimensionState(dimension='account_ip'" in repr(i)
    s = guard.stats()
    assert s.occupancy == 4
    assert s.capacity == 1 << 20
    assert s.allow + s.challenge + s.deny == 12
    assert s.deny == 2
    assert s.memory_bytes >= 32 * s.capacity
    assert "occupancy=4" in repr(s) and "site=None" in repr(s)


def test_policy_text_and_file(tmp_path: Path) -> None:
    policy = "[account]\nchallenge_after = 1\n[store]\ncapacity = 1024\n"
    g = Guard(policy)
    g.record_failure(account="a")
    assert g.record_failure(account="a").action is Action.CHALLENGE
    assert g.stats().capacity == 1024
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    for p in (path, str(path)):
        g = Guard.from_policy_file(p, manual_clock=True)
        g.record_failure(account="a")
        assert g.record_failure(account="a").action is Action.CHALLENGE


# --- every bad input -------------------------------------------------------------------

BAD_ATTEMPTS: list[tuple[dict[str, Any], type[loginguard.LoginGuardError], str]] = [
    ({}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"account": "", "ip": ""}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"account": "  "}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"ip": "1.2.3.4", "device": "d"}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"account": "a" * 1025}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"account": "é" * 513}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"account": "a", "device": b"d" * 257}, loginguard.InvalidAttemptError, "invalid_attempt"),
    ({"account": "a", "ip": "1.2.3"}, loginguard.InvalidIpError, "invalid_ip"),
    ({"account": "a", "ip": "::g"}, loginguard.InvalidIpError, "invalid_ip"),
    ({"account": "a", "ip": "192.0.2.1%eth0"}, loginguard.InvalidIpError, "invalid_ip"),
    ({"account": "a", "ip": b"\x01\x02\x03"}, loginguard.InvalidIpError, "invalid_ip"),
    ({"account": "a", "ip": b"\x00" * 5}, loginguard.InvalidIpError, "invalid_ip"),
    ({"account": "\udc80"}, loginguard.InvalidUtf8Error, "invalid_utf8"),
    ({"account": "a", "ip": "\ud800"}, loginguard.InvalidUtf8Error, "invalid_utf8"),
    ({"account": "a", "device": "\udfff"}, loginguard.InvalidUtf8Error, "invalid_utf8"),
]


@pytest.mark.parametrize("op", ["check", "begin", "record_failure", "record_success", "inspect"])
@pytest.mark.parametrize(("kwargs", "cls", "kind"), BAD_ATTEMPTS)
def test_bad_attempts_raise_value_errors_and_record_nothing(
    guard: Guard, op: str, kwargs: dict[str, Any], cls: type[Exception], kind: str
) -> None:
    with pytest.raises(cls) as info:
        getattr(guard, op)(**kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, loginguard.LoginGuardError)
    assert info.value.kind == kind
    assert str(info.value)
    assert guard.stats().occupancy == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"account": 1}, "account must be str or None, not int"),
        ({"account": b"alice"}, "account must be str or None, not bytes"),
        ({"ip": 3232235777}, "ip must be str or bytes or None, not int"),
        ({"ip": bytearray(4)}, "ip must be str or bytes or None, not bytearray"),
        ({"account": "a", "device": 7.5}, "device must be str or bytes or None, not float"),
    ],
)
def test_wrong_types_raise_type_error(guard: Guard, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        guard.record_failure(**kwargs)
    assert guard.stats().occupancy == 0


def test_arguments_are_keyword_only(guard: Guard) -> None:
    with pytest.raises(TypeError):
        guard.check("alice")  # type: ignore[misc]
    with pytest.raises(TypeError):
        guard.check(acount="alice")  # type: ignore[call-arg]


def test_bad_resets(guard: Guard) -> None:
    with pytest.raises(loginguard.InvalidAttemptError):
        guard.reset_account("")
    with pytest.raises(loginguard.InvalidAttemptError):
        guard.reset_account("a" * 1025)
    with pytest.raises(loginguard.InvalidUtf8Error):
        guard.reset_account("\udc80")
    with pytest.raises(TypeError):
        guard.reset_account(None)  # type: ignore[arg-type]
    with pytest.raises(loginguard.InvalidIpError):
        guard.reset_ip("300.1.1.1")
    with pytest.raises(loginguard.InvalidIpError):
        guard.reset_ip(b"\x01")
    with pytest.raises(loginguard.InvalidAttemptError):
        guard.reset_ip("")
    with pytest.raises(TypeError):
        guard.reset_ip(1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ('[account]\nlock_for = "5"', "account.lock_for"),
        ("[account]\nchallenge_afterr = 3", "account.challenge_afterr"),
        ("[ip]\nchallenge_after = -1", "ip.challenge_after"),
        ("[account_ip]\nlock_growth = 0.5", "account_ip.lock_growth"),
        ("[store]\ncapacity = 0", "store.capacity"),
        ('[store]\nkind = "redis"', "store.kind"),
        ("ipv4_prefix = 33", "ipv4_prefix"),
    ],
)
def test_policy_errors_name_the_field(policy: str, field: str) -> None:
    with pytest.raises(loginguard.PolicyError) as info:
        Guard(policy)
    assert info.value.field == field
    assert info.value.kind == "policy"
    assert isinstance(info.value, ValueError)
    assert field in str(info.value)


def test_policy_file_and_constructor_errors(tmp_path: Path) -> None:
    with pytest.raises(loginguard.PolicyError) as info:
        Guard.from_policy_file(tmp_path / "missing.toml")
    assert "missing.toml" in str(info.value)
    with pytest.raises(loginguard.PolicyError):
        Guard("this is not toml [")
    with pytest.raises(TypeError):
        Guard(b"[account]")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Guard.from_policy_file(3)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="manual_clock=True"):
        Guard().advance_ms(1)
    with pytest.raises(OverflowError):
        Guard(manual_clock=True).advance_ms(-1)


def test_store_error_class() -> None:
    assert issubclass(loginguard.StoreError, loginguard.LoginGuardError)
    assert not issubclass(loginguard.StoreError, ValueError)
    assert loginguard.StoreError.kind == "store"


# --- threads ----------------------------------------------------------------------------


def run_threads(n: int, target: Any) -> None:
    barrier = threading.Barrier(n)

    def run() -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_eight_threads_see_exact_failure_counts(guard: Guard) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [guard.record_failure(**ALICE).failures for _ in range(500)]
        with lock:
            seen.extend(mine)

    run_threads(8, work)
    assert sorted(seen) == list(range(1, 4001))
    assert guard.inspect(ip="203.0.113.7").dimensions[0].failures == 4000


def test_eight_threads_begin_at_most_lock_after_plus_one(guard: Guard) -> None:
    through: list[bool] = []
    lock = threading.Lock()

    def work() -> None:
        mine = []
        for _ in range(20):
            d = guard.begin(**ALICE, challenge_passed=True)
            mine.append(d.lets_password_be_checked(True))
        with lock:
            through.extend(mine)

    run_threads(8, work)
    assert len(through) == 160
    assert sum(through) == 11  # account_ip: lock_after = 10
    assert guard.check(**ALICE).action is Action.DENY


def test_threads_share_one_guard_with_a_listener(guard: Guard) -> None:
    events: list[loginguard.Event] = []
    guard.on_event(events.append)

    def work() -> None:
        name = threading.current_thread().name
        for _ in range(4):
            guard.record_failure(account=name)

    run_threads(8, work)
    assert len(events) == 8
    assert all(e.kind == "challenge" and e.failures == 4 for e in events)


# --- events -----------------------------------------------------------------------------


def test_events(guard: Guard) -> None:
    events: list[loginguard.Event] = []
    guard.on_event(events.append)
    for _ in range(11):
        guard.record_failure(account="Alice", ip="::ffff:203.0.113.7")
    guard.reset_account("alice")
    guard.reset_ip("203.0.113.7")
    assert [(e.kind, e.dimension) for e in events] == [
        ("challenge", "account"),
        ("lock", "account_ip"),
        ("reset_account", None),
        ("reset_ip", None),
    ]
    lock = events[1]
    assert (lock.account, lock.ip, lock.failures, lock.lock_until_ms) == (
        "Alice",
        "203.0.113.7",
        11,
        60_000,
    )
    assert events[3].ip == "203.0.113.7"
    with pytest.raises(AttributeError):
        lock.kind = "x"  # type: ignore[misc]
    assert repr(lock) == (
        "Event(kind='lock', dimension='account_ip', account='Alice', ip='203.0.113.7', "
        "failures=11, lock_until_ms=60000)"
    )
    guard.on_event(None)
    guard.reset_account("alice")
    assert len(events) == 4


def test_failing_listener_goes_to_unraisablehook_and_changes_nothing(
    guard: Guard, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def listener(event: loginguard.Event) -> None:
        raise RuntimeError(f"listener failed on {event.kind}")

    guard.on_event(listener)
    decisions = [guard.record_failure(**ALICE) for _ in range(4)]
    assert decisions[-1].action is Action.CHALLENGE
    assert guard.check(**ALICE).failures == 4
    assert len(reported) == 1
    assert isinstance(reported[0].exc_value, RuntimeError)
    assert str(reported[0].exc_value) == "listener failed on challenge"
    assert reported[0].object is listener


def test_on_event_needs_a_callable(guard: Guard) -> None:
    with pytest.raises(TypeError):
        guard.on_event(42)  # type: ignore[arg-type]


def test_public_names() -> None:
    for name in loginguard.__all__:
        assert hasattr(loginguard, name), name
    assert loginguard.MAX_ACCOUNT_BYTES == 1024
    assert loginguard.MAX_DEVICE_BYTES == 256
    assert not dataclasses.is_dataclass(loginguard.Decision)


# --- ip_range and the site-wide signal --------------------------------------------------


def test_reason_enum_matches_the_core() -> None:
    assert sorted(r.value for r in Reason) == sorted(loginguard._native.REASONS)


def test_ip_range_and_a_site_wide_attack() -> None:
    guard = Guard(
        '[ip_range]\nchallenge_after = 2\n[site]\nchallenge_when = "4/1m"', manual_clock=True
    )
    events: list[loginguard.Event] = []
    guard.on_event(events.append)
    assert repr(guard.site_state()) == (
        "SiteState(rate=0, trigger=4, per_ms=60000, active=False, since_ms=None)"
    )
    for i in range(1, 4):
        d = guard.record_failure(account=f"u{i}", ip=f"198.51.100.{i}")
    assert (d.action, d.reason, d.failures) == (Action.CHALLENGE, Reason.IP_RANGE, 3)
    assert [s.dimension for s in guard.inspect(account="u3", ip="198.51.100.3").dimensions] == [
        "account",
        "account_ip",
        "ip",
        "ip_range",
    ]
    guard.record_failure(account="u4", ip="192.0.2.1")
    d = guard.record_failure(account="u5", ip="192.0.3.1")
    assert (d.action, d.reason, d.failures) == (Action.CHALLENGE, Reason.SITE, 5)
    assert str(d.reason) == "site"
    assert guard.check(account="alice", ip="192.0.4.1", device="laptop").action is Action.ALLOW
    site = guard.stats().site
    assert site is not None and site.active and site.rate == 5 and site.since_ms == 0
    inspection = guard.inspect(account="zoe", ip="192.0.9.9")
    assert inspection.decision.reason is Reason.SITE
    assert inspection.site is not None and inspection.site.active
    guard.advance_ms(120_000)  # calm from 60s (half the trigger), 5m calm_for: not yet over
    assert guard.check(account="zoe", ip="192.0.9.9").reason is Reason.SITE
    guard.advance_ms(240_000 - 1)
    assert guard.check(account="zoe", ip="192.0.9.9").reason is Reason.SITE
    guard.advance_ms(1)  # 60s + 5m
    assert guard.check(account="zoe", ip="192.0.9.9").action is Action.ALLOW
    assert [(e.kind, e.dimension, e.failures) for e in events] == [
        ("challenge", "ip_range", 3),
        ("site_attack_started", None, 5),
        ("site_attack_ended", None, 0),
    ]
    guard.reset_ip("198.51.100.200")  # the range's counter goes with the network's
    assert guard.check(account="u3", ip="198.51.100.3").action is Action.ALLOW
    assert Guard().site_state() is None and Guard().stats().site is None


def test_account_normalize_is_the_policys() -> None:
    assert loginguard.Guard().account_normalize == "fold"
    assert loginguard.Guard('account_normalize = "exact"').account_normalize == "exact"
