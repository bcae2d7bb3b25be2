"""Prometheus metrics of a guard, read from ``guard.stats()`` at each scrape (needs
``prometheus_client``).

>>> import loginguard
>>> from loginguard.prometheus import LoginGuardCollector
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = CollectorRegistry()
>>> registry.register(LoginGuardCollector(loginguard.Guard(manual_clock=True)))
>>> b'loginguard_capacity_keys ' in generate_latest(registry)
True

The default registry (``prometheus_client.REGISTRY``) takes it the same way. A callable that
returns the guard (``loginguard.django.get_guard``) is read at each scrape, so it follows a
guard that is built later or replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable, Union

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from loginguard._native import Guard
from loginguard._types import Action

__all__ = ["LoginGuardCollector"]

GuardSource = Union[Guard, Callable[[], Guard]]


class LoginGuardCollector:
    """``loginguard_decisions_total{action}``, ``loginguard_tracked_keys``,
    ``loginguard_capacity_keys``, ``loginguard_evictions_total``,
    ``loginguard_refused_inserts_total`` and ``loginguard_memory_bytes``; on the redis store
    also ``loginguard_redis_*`` (round trips, errors, degraded decisions, CAS retries, lock
    cache hits, meta key repairs, the circuit breaker, and Redis's own figures), under the same
    names as the CLI's ``stats --prometheus``.

    ``namespace`` replaces the ``loginguard`` prefix; ``labels`` are added to every sample
    (e.g. ``{"guard": "admin"}`` for a second guard in one process)."""

    def __init__(
        self,
        guard: GuardSource,
        *,
        namespace: str = "loginguard",
        labels: dict[str, str] | None = None,
    ) -> None:
        self._guard = guard
        self._prefix = namespace
        self._labels = dict(labels or {})
        if "action" in self._labels:
            raise ValueError("'action' is a label of loginguard_decisions_total")

    def _current(self) -> Guard:
        return self._guard if isinstance(self._guard, Guard) else self._guard()

    def describe(self) -> Iterator[Metric]:
        # The metric names without reading the guard: registering does not build it.
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._current())

    def _families(self, guard: Guard | None) -> Iterator[Metric]:
        stats = guard.stats() if guard is not None else None
        names, values = list(self._labels), list(self._labels.values())
        p = self._prefix

        decisions = CounterMetricFamily(
            f"{p}_decisions",
            "Decisions given by check, begin and record_failure, by action.",
            labels=[*names, "action"],
        )
        if stats is not None:
            for action in Action:
                decisions.add_metric([*values, action.value], getattr(stats, action.value))
        yield decisions

        def gauge(name: str, doc: str, value: int | None, unit: str = "") -> GaugeMetricFamily:
            family = GaugeMetricFamily(f"{p}_{name}", doc, labels=names, unit=unit)
            if value is not None:
                family.add_metric(values, value)
            return family

        def counter(name: str, doc: str, value: int | None) -> CounterMetricFamily:
            family = CounterMetricFamily(f"{p}_{name}", doc, labels=names)
            if value is not None:
                family.add_metric(values, value)
            return family

        yield gauge(
            "tracked_keys",
            "Counters (keys) held in the store now.",
            stats.occupancy if stats is not None else None,
        )
        yield gauge(
            "capacity_keys",
            "Counters the store can hold (fixed at construction).",
            stats.capacity if stats is not None else None,
        )
        yield counter(
            "evictions",
            "Counters evicted to make room for new keys.",
            stats.evictions if stats is not None else None,
        )
        yield counter(
            "refused_inserts",
            "New keys not stored because every candidate slot was protected "
            "(their dimension answered challenge).",
            stats.refused_inserts if stats is not None else None,
        )
        yield gauge(
            "memory_bytes",
            "Memory held by the guard's store, in bytes.",
            stats.memory_bytes if stats is not None else None,
            unit="bytes",
        )
        if stats is None or stats.redis is None:
            return
        r = stats.redis
        for name, doc, value in (
            ("redis_round_trips", "Round trips to Redis (a pipeline counts once).", r.round_trips),
            ("redis_errors", "Redis operations that failed or timed out.", r.errors),
            ("redis_degraded", "Decisions made by store.on_error.", r.degraded),
            (
                "redis_cas_retries",
                "Compare-and-set writes sent again after a conflict.",
                r.cas_retries,
            ),
            (
                "redis_cas_exhausted",
                "Operations that gave up after too many conflicts.",
                r.cas_exhausted,
            ),
            (
                "redis_lock_cache_hits",
                "Checks and begins answered by the local lock cache.",
                r.lock_cache_hits,
            ),
            ("redis_meta_healed", "Times a missing meta key was restored.", r.meta_healed),
            (
                "redis_meta_mismatches",
                "Times the meta key held another store's secret or epoch.",
                r.meta_mismatches,
            ),
        ):
            yield counter(name, doc, value)
        yield gauge(
            "redis_circuit_open", "1 while the circuit breaker is open.", int(r.circuit_open)
        )
        if r.evicted_keys is not None:
            yield counter(
                "redis_evicted_keys",
                "Redis's evicted_keys (every node of a cluster).",
                r.evicted_keys,
            )
        if r.may_evict_counters is not None:
            yield gauge(
                "redis_may_evict_counters",
                "1 when maxmemory-policy can evict counters.",
                int(r.may_evict_counters),
            )
        if r.used_memory is not None:
            yield gauge("redis_used_memory", "Redis's used_memory.", r.used_memory, unit="bytes")
