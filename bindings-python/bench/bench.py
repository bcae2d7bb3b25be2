"""The SPEC's login-failure workload through loginguard, `limits` and django-axes, in one run.

One attempt = the pre-authentication check, then recording the failure (account + ip as text).
Each figure is the median ns per attempt over RUNS runs, each on a fresh guard / limiter /
handler. The slow peers run a prefix of the same attempt list (the count is printed): their
cost per attempt is what is compared. Run it with `make bench-python`.
"""

from __future__ import annotations

import bisect
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable

MASK = (1 << 64) - 1
ATTEMPTS = 200_000
RUNS = int(os.environ.get("LG_BENCH_RUNS", "5"))
# Attempts per run for the peers (a prefix of the workload; ns/attempt is per attempt).
PEER_ATTEMPTS = {"limits": 20_000, "axes-cache": 10_000, "axes-db": 2_000}

Workload = list[tuple[str, str]]


def splitmix64(seed: int) -> Callable[[], int]:
    state = seed

    def next_() -> int:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    return next_


def zipf_workload() -> Workload:
    cdf, total = [], 0.0
    for i in range(100_000):
        total += 1.0 / (i + 1)
        cdf.append(total)
    rng = splitmix64(42)
    out = []
    for _ in range(ATTEMPTS):
        u = (rng() >> 11) * 2.0**-53
        i = bisect.bisect_right(cdf, u * total)
        j = rng() % 10_000
        out.append((f"user{i}@example.com", f"10.{j // 256}.{j % 256}.7"))
    return out


def hot_workload() -> Workload:
    return [("user0@example.com", "10.0.0.7")] * ATTEMPTS


# --- loginguard -------------------------------------------------------------------------


def run_loginguard(work: Workload) -> float:
    import loginguard

    guard = loginguard.Guard()
    check, fail = guard.check, guard.record_failure
    start = time.perf_counter_ns()
    for account, ip in work:
        check(account=account, ip=ip)
        fail(account=account, ip=ip)
    return (time.perf_counter_ns() - start) / len(work)


def run_loginguard_begin(work: Workload) -> float:
    """The race-free flow: one `begin` per attempt (a check and a failure in advance)."""
    import loginguard

    guard = loginguard.Guard()
    begin = guard.begin
    start = time.perf_counter_ns()
    for account, ip in work:
        begin(account=account, ip=ip)
    return (time.perf_counter_ns() - start) / len(work)


# --- limits: memory storage, moving window, one limit per dimension ---------------------


def run_limits(work: Workload) -> float:
    from limits import RateLimitItemPerDay, RateLimitItemPerMinute
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(MemoryStorage())
    account = RateLimitItemPerMinute(3, 15)  # the policy's thresholds per dimension
    account_ip = RateLimitItemPerMinute(10, 15)
    network = RateLimitItemPerDay(50)
    test, hit = limiter.test, limiter.hit
    start = time.perf_counter_ns()
    for user, ip in work:
        test(account, user)
        test(account_ip, user, ip)
        test(network, ip)
        hit(account, user)
        hit(account_ip, user, ip)
        hit(network, ip)
    return (time.perf_counter_ns() - start) / len(work)


# --- django-axes: its handlers' pre-check and failure recording -------------------------


def setup_django() -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "axes"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        AXES_FAILURE_LIMIT=4,
        AXES_LOCKOUT_PARAMETERS=["username", ["username", "ip_address"], "ip_address"],
        AXES_VERBOSE=False,
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.disable(logging.CRITICAL)  # axes logs every failure; measure the handler, not I/O
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run_axes(handler_name: str, work: Workload) -> float:
    from axes.handlers.cache import AxesCacheHandler
    from axes.handlers.database import AxesDatabaseHandler
    from axes.handlers.proxy import AxesProxyHandler
    from axes.models import AccessAttempt, AccessFailureLog
    from django.core.cache import cache
    from django.core.exceptions import PermissionDenied
    from django.http import HttpRequest

    cache.clear()
    AccessAttempt.objects.all().delete()
    AccessFailureLog.objects.all().delete()
    handler = AxesCacheHandler() if handler_name == "cache" else AxesDatabaseHandler()
    update = AxesProxyHandler.update_request
    start = time.perf_counter_ns()
    for user, ip in work:
        request = HttpRequest()
        request.method = "POST"
        request.path = "/login/"
        request.META["REMOTE_ADDR"] = ip
        credentials = {"username": user}
        update(request)
        handler.is_allowed(request, credentials)
        try:
            handler.user_login_failed(None, credentials, request)
        except PermissionDenied:  # axes signals a lockout by raising
            pass
    return (time.perf_counter_ns() - start) / len(work)


def median_ns(run: Callable[[Workload], float], work: Workload) -> float:
    return statistics.median(run(work) for _ in range(RUNS))


def main() -> None:
    setup_django()
    workloads = {"zipf": zipf_workload(), "hot": hot_workload()}
    # (label, attempts per run, runner, target: ">= N x" for peers, "<= N ns" for loginguard)
    impls: list[tuple[str, int, Callable[[Workload], float], str]] = [
        ("loginguard (Python)", ATTEMPTS, run_loginguard, "<= 700 ns"),
        ("limits (memory, moving window)", PEER_ATTEMPTS["limits"], run_limits, ">= 20x"),
        ("django-axes (cache handler, locmem)", PEER_ATTEMPTS["axes-cache"],
         lambda w: run_axes("cache", w), ">= 80x"),
        ("django-axes (database handler, SQLite)", PEER_ATTEMPTS["axes-db"],
         lambda w: run_axes("database", w), ">= 1000x"),
    ]  # fmt: skip
    print(f"loginguard Python bench: median of {RUNS} runs; one attempt = check + failure")
    print("(the `begin` rows: one attempt = one `begin`, the race-free flow; no peer row)")
    print(f"Python {sys.version.split()[0]}; a peer with fewer attempts/run ran a prefix of them")
    print()
    print("| workload | implementation | attempts/run | ns/attempt | vs loginguard | target |")
    print("|---|---|--:|--:|--:|---|")
    for name, work in workloads.items():
        ours = 0.0
        for label, count, run, target in impls:
            ns = median_ns(run, work[:count])
            ours = ours or ns
            ratio = ns / ours
            goal = float(target.strip("<=> nsx"))
            met = ns <= goal if target.endswith("ns") else ratio >= goal
            verdict = f"{target}: {'met' if met else 'missed'}"
            print(f"| {name} | {label} | {count:,} | {ns:,.0f} | {ratio:,.1f}x | {verdict} |")
            sys.stdout.flush()
        ns = median_ns(run_loginguard_begin, work)
        verdict = f"<= 500 ns: {'met' if ns <= 500 else 'missed'}"
        label = "loginguard `begin` (Python)"
        print(f"| {name} | {label} | {ATTEMPTS:,} | {ns:,.0f} | - | {verdict} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
