"""``loginguard.prometheus.LoginGuardCollector``: the exposition text of a guard's statistics,
and the Django view that serves it."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

import loginguard
from loginguard.prometheus import LoginGuardCollector

A = "203.0.113.7"


def exposition(collector: LoginGuardCollector) -> list[str]:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode().splitlines()


def samples(lines: list[str]) -> dict[str, float]:
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in lines if not line.startswith("#"))
    }


def test_a_fresh_guard() -> None:
    guard = loginguard.Guard(manual_clock=True)
    lines = exposition(LoginGuardCollector(guard))
    assert "# TYPE loginguard_decisions_total counter" in lines
    assert "# TYPE loginguard_tracked_keys gauge" in lines
    assert "# TYPE loginguard_capacity_keys gauge" in lines
    assert "# TYPE loginguard_evictions_total counter" in lines
    assert "# TYPE loginguard_refused_inserts_total counter" in lines
    assert "# TYPE loginguard_memory_bytes gauge" in lines
    stats = guard.stats()
    assert samples(lines) == {
        'loginguard_decisions_total{action="allow"}': 0,
        'loginguard_decisions_total{action="challenge"}': 0,
        'loginguard_decisions_total{action="deny"}': 0,
        'loginguard_decisions_total{action="reset_required"}': 0,
        "loginguard_tracked_keys": 0,
        "loginguard_capacity_keys": stats.capacity,
        "loginguard_evictions_total": 0,
        "loginguard_refused_inserts_total": 0,
        "loginguard_memory_bytes": stats.memory_bytes,
    }
    assert stats.capacity > 0 and stats.memory_bytes > 0


def test_decisions_by_action_and_occupancy_follow_the_guard() -> None:
    guard = loginguard.Guard(manual_clock=True)
    collector = LoginGuardCollector(guard)
    for _ in range(11):
        guard.record_failure(account="alice", ip=A)  # 3 allow, 7 challenge, then a lock: deny
    guard.check(account="alice", ip=A)  # deny
    got = samples(exposition(collector))
    assert got['loginguard_decisions_total{action="allow"}'] == 3
    assert got['loginguard_decisions_total{action="challenge"}'] == 7
    assert got['loginguard_decisions_total{action="deny"}'] == 2
    assert got['loginguard_decisions_total{action="reset_required"}'] == 0
    assert got["loginguard_tracked_keys"] == guard.stats().occupancy > 0
    guard.record_failure(account="bob", ip=A)
    assert (
        samples(exposition(collector))["loginguard_tracked_keys"]
        == got["loginguard_tracked_keys"] + 2
    )


def test_evictions_and_refused_inserts() -> None:
    guard = loginguard.Guard("[store]\ncapacity = 64\n", manual_clock=True)
    collector = LoginGuardCollector(guard)
    for i in range(20):
        for _ in range(5):
            guard.record_failure(account=f"locked{i}")  # over challenge_after: protected
    for i in range(2000):
        guard.record_failure(account=f"spray{i}")  # evicts the unprotected
    got = samples(exposition(collector))
    assert got["loginguard_evictions_total"] == guard.stats().evictions > 0
    for i in range(20, 200):
        for _ in range(5):
            guard.record_failure(account=f"locked{i}")  # every slot protected: refused
    stats = guard.stats()
    got = samples(exposition(collector))
    assert got["loginguard_refused_inserts_total"] == stats.refused_inserts > 0
    assert got["loginguard_evictions_total"] == stats.evictions
    assert got["loginguard_tracked_keys"] == stats.occupancy == stats.capacity == 64


def test_namespace_labels_and_openmetrics() -> None:
    guard = loginguard.Guard(manual_clock=True)
    guard.record_failure(ip=A)
    registry = CollectorRegistry()
    registry.register(LoginGuardCollector(guard, namespace="app_login", labels={"guard": "web"}))
    text = generate_latest(registry).decode()
    assert 'app_login_decisions_total{action="allow",guard="web"} 1.0' in text.splitlines()
    assert 'app_login_tracked_keys{guard="web"}' in text
    om = generate_openmetrics(registry).decode()
    assert "# UNIT app_login_memory_bytes bytes" in om and om.endswith("# EOF\n")
    with pytest.raises(ValueError):
        LoginGuardCollector(guard, labels={"action": "x"})


def test_registering_reads_no_guard_and_a_callable_is_read_at_each_scrape() -> None:
    guards: list[loginguard.Guard] = []

    def current() -> loginguard.Guard:
        guards.append(loginguard.Guard(manual_clock=True))
        return guards[-1]

    registry = CollectorRegistry()
    registry.register(LoginGuardCollector(current))
    assert guards == []
    generate_latest(registry)
    generate_latest(registry)
    assert len(guards) == 2
    other = CollectorRegistry()
    other.register(LoginGuardCollector(current))
    with pytest.raises(ValueError, match="Duplicated"):
        other.register(LoginGuardCollector(current))  # describe() names every family


@pytest.mark.django_db
def test_the_django_view(settings: Any) -> None:
    from django.test import Client

    from loginguard.django import get_guard

    for _ in range(4):
        get_guard().record_failure(account="alice", ip=A)
    r = Client().get("/metrics/")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/plain")
    lines = r.content.decode().splitlines()
    assert 'loginguard_decisions_total{action="challenge"} 1.0' in lines
    assert 'loginguard_decisions_total{action="allow"} 3.0' in lines
    assert f"loginguard_tracked_keys {float(get_guard().stats().occupancy)}" in lines

    om = Client().get("/metrics/", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert om["Content-Type"].startswith("application/openmetrics-text")
    assert om.content.decode().endswith("# EOF\n")
    assert Client().post("/metrics/").status_code == 405


@pytest.mark.django_db
def test_the_django_view_with_a_token(settings: Any) -> None:
    from django.test import Client

    settings.LOGINGUARD = {**settings.LOGINGUARD, "METRICS_TOKEN": "s3cret"}
    assert Client().get("/metrics/").status_code == 401
    assert Client().get("/metrics/", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics/", HTTP_AUTHORIZATION="Basic s3cret").status_code == 401
    r = Client().get("/metrics/", HTTP_AUTHORIZATION="Bearer s3cret")
    assert r.status_code == 200 and b"loginguard_capacity_keys" in r.content
