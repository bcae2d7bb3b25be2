"""The SPEC's login-failure workload on the redis store: loginguard's Python binding and
django-axes' cache handler on django-redis, against ONE local redis-server that this bench
starts (and stops), in one run. Run it with `make bench-python-redis`.

Each attempt is timed on its own (perf_counter_ns): the table gives the median, p99 and mean
latency per attempt, loginguard's round trips per attempt (its own count), the Redis commands
per attempt from `INFO commandstats` deltas (commands that scripts run count too, as Redis
counts them), and attempts per second with one client and with 32 (threads; loginguard releases
the GIL while it waits on Redis), each on fresh keys. ATTEMPTS is a prefix of the
SPEC's 200,000-attempt lists (one network round trip costs far more than the in-memory path).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from bench import hot_workload, zipf_workload

ATTEMPTS = int(os.environ.get("LG_BENCH_REDIS_ATTEMPTS", "20000"))

Workload = list[tuple[str, str]]
Attempt = Callable[[str, str], object]


@contextmanager
def redis_server() -> Iterator[int]:
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed (make tools-redis installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client = redis.Redis(port=port)
            for _ in range(500):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.01)
            yield port
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait()


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}


def measure(client: redis.Redis, attempt: Attempt, work: Workload) -> tuple[list[int], dict]:
    """Per-attempt latencies (ns) and the Redis commands per attempt, by command."""
    before = command_calls(client)
    times = []
    clock = time.perf_counter_ns
    for account, ip in work:
        start = clock()
        attempt(account, ip)
        times.append(clock() - start)
    after = command_calls(client)
    per = {
        name: (calls - before.get(name, 0)) / len(work)
        for name, calls in after.items()
        if name != "info" and calls != before.get(name, 0)
    }
    return times, per


# --- loginguard ---------------------------------------------------------------------------


def loginguard_attempts(port: int) -> dict[str, Attempt]:
    import loginguard

    guard = loginguard.Guard(
        f'[store]\nkind = "redis"\nurl = "redis://127.0.0.1:{port}"\ntimeout = "2s"\n'
    )
    begin, check, fail = guard.begin, guard.check, guard.record_failure

    def begin_then_fail(account: str, ip: str) -> None:
        # begin records the failure in advance: a wrong password needs no second call.
        d = begin(account=account, ip=ip)
        assert not d.degraded, d

    def check_then_record(account: str, ip: str) -> None:
        check(account=account, ip=ip)
        d = fail(account=account, ip=ip)
        assert not d.degraded, d

    begin_then_fail.guard = guard  # type: ignore[attr-defined]
    check_then_record.guard = guard  # type: ignore[attr-defined]
    return {
        "loginguard (Python): begin": begin_then_fail,
        "loginguard (Python): check + record_failure": check_then_record,
    }


# --- django-axes: the cache handler on django-redis ---------------------------------------


def axes_attempt(port: int) -> Attempt:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "axes"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        AXES_FAILURE_LIMIT=4,
        AXES_LOCKOUT_PARAMETERS=["username", ["username", "ip_address"], "ip_address"],
        AXES_VERBOSE=False,
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.disable(logging.CRITICAL)  # axes logs every failure; measure the handler, not I/O
    from axes.handlers.cache import AxesCacheHandler
    from axes.handlers.proxy import AxesProxyHandler
    from django.core.exceptions import PermissionDenied
    from django.http import HttpRequest

    handler = AxesCacheHandler()
    update = AxesProxyHandler.update_request

    def attempt(account: str, ip: str) -> None:
        request = HttpRequest()
        request.method = "POST"
        request.path = "/login/"
        request.META["REMOTE_ADDR"] = ip
        credentials = {"username": account}
        update(request)
        handler.is_allowed(request, credentials)
        try:
            handler.user_login_failed(None, credentials, request)
        except PermissionDenied:  # axes signals a lockout by raising
            pass

    return attempt


def round_trips(attempt: Attempt) -> int | None:
    guard = getattr(attempt, "guard", None)
    return None if guard is None else guard.stats().redis.round_trips


def per_second(attempt: Attempt, work: Workload, clients: int) -> float:
    """Attempts per second with `clients` threads taking the next attempt in turn."""
    todo = iter(work)  # a builtin iterator: next() is atomic under the GIL

    def client() -> None:
        for account, ip in todo:
            attempt(account, ip)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(work) / (time.perf_counter() - start)


def main() -> None:
    workloads = {"zipf": zipf_workload()[:ATTEMPTS], "hot": hot_workload()[:ATTEMPTS]}
    with redis_server() as port:
        client = redis.Redis(port=port)
        impls = loginguard_attempts(port)
        impls["django-axes (cache handler, django-redis)"] = axes_attempt(port)
        version = client.info()["redis_version"]
        python = sys.version.split()[0]
        print(f"loginguard redis bench: one local redis-server {version}, Python {python}")
        print(f"{ATTEMPTS:,} attempts per row; one attempt = the pre-authentication check,")
        print("then recording the failure")
        print()
        print(
            "| workload | implementation | median µs | p99 µs | mean µs | round trips/attempt "
            "| Redis cmds/attempt | attempts/s, 1 client | attempts/s, 32 clients |"
        )
        print("|---|---|--:|--:|--:|--:|---|--:|--:|")
        for name, work in workloads.items():
            for label, attempt in impls.items():
                client.flushall()
                # stats() makes round trips of its own: measured, then taken off.
                first, base = round_trips(attempt), round_trips(attempt)
                times, per = measure(client, attempt, work)
                trips = None
                if first is not None and base is not None:
                    trips = (round_trips(attempt) or 0) - base - (base - first)
                client.flushall()
                at32 = per_second(attempt, work, 32)
                times.sort()
                p99 = times[min(len(times) - 1, len(times) * 99 // 100)]
                commands = (
                    f"{sum(per.values()):.2f} ("
                    + ", ".join(
                        f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                    )
                    + ")"
                )
                median, mean = statistics.median(times), statistics.fmean(times)
                row = f"{median / 1000:,.1f} | {p99 / 1000:,.1f} | {mean / 1000:,.1f}"
                rt = "—" if trips is None else f"{trips / len(work):.2f}"
                rates = f"{1e9 / mean:,.0f} | {at32:,.0f}"
                print(f"| {name} | {label} | {row} | {rt} | {commands} | {rates} |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
