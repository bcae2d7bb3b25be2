"""loginguard.django under ASGI on a redis guard: Django's AsyncClient drives Django's own
LoginView, an async LoginView and an async view that calls ``aauthenticate()`` through the
ASGI handler, where LoginGuardMiddleware runs as async middleware. This module is also the
tests' URLconf."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth import aauthenticate, alogin
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.test import AsyncClient
from django.urls import include, path
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from test_redis_server import RedisServer, redis_server

import loginguard
from loginguard import Action, Reason
from loginguard.django import conf, devices, get_guard
from loginguard.django.middleware import LoginGuardMiddleware

pytestmark = [pytest.mark.django_db, pytest.mark.urls("test_django_async")]

A = "127.0.0.1"  # AsyncClient's ASGI peer address
CHALLENGE = 'id="loginguard-challenge"'
LOGIN_FORM = 'id="login"'


class AsyncLoginView(LoginView):
    """A LoginView whose handlers are coroutines: ``aauthenticate()`` and ``alogin()``."""

    dispatch = View.dispatch  # LoginView's is wrapped in sync decorators

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse('<form id="login" method="post"></form>')

    async def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = await aauthenticate(
            request, username=request.POST.get("username"), password=request.POST.get("password")
        )
        if user is None:
            return HttpResponse('<form id="login" method="post">wrong password</form>')
        await alogin(request, user)
        return HttpResponseRedirect("/home/")

    async def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return await self.post(request, *args, **kwargs)


@csrf_exempt
async def api_login(request: HttpRequest) -> HttpResponse:
    """A JSON-free API login: LoginGuardBackend alone guards it (refusals, no CAPTCHA step)."""
    user = await aauthenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None:
        state = getattr(request, "loginguard", None)
        if state is not None and not state.allowed:
            return JsonResponse({"error": str(state.decision.action)}, status=429)
        return JsonResponse({"error": "wrong username or password"}, status=401)
    return JsonResponse({"user": user.get_username()})


async def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("async-login/", AsyncLoginView.as_view()),
    path("api/alogin/", api_login),
    path("home/", home),
]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture(autouse=True)
def redis_guard(redis: RedisServer, tmp_path: Path, settings: Any) -> loginguard.Guard:
    policy = tmp_path / "loginguard.toml"
    policy.write_text(redis.policy())
    settings.LOGINGUARD = {
        "MANUAL_CLOCK": True,
        "POLICY_FILE": str(policy),
        "CAPTCHA": {"BACKEND": "loginguard.django.captcha.StaticCaptcha", "SECRET": "solved"},
    }
    guard = get_guard()
    assert guard.check(account="alice").degraded is False  # on the redis server
    return guard


class LoopCalls:
    """The guard, recording which of its calls are made on a thread running an event loop."""

    #: Synchronous calls that never wait on the store (no counter, no round trip).
    NEVER_WAIT = frozenset({"keys_account"})

    def waits_only_in_awaitables(self) -> bool:
        """Every call made on the loop is an awaitable one, or one that never waits."""
        return bool(self.on_loop) and all(
            name.startswith("a") or name in self.NEVER_WAIT for name in self.on_loop
        )

    def __init__(self, guard: loginguard.Guard) -> None:
        self.guard = guard
        self.on_loop: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.guard, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                self.on_loop.append(name)
            except RuntimeError:
                pass
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def loop_calls(redis_guard: loginguard.Guard) -> LoopCalls:
    calls = LoopCalls(redis_guard)
    conf._guard = calls  # type: ignore[assignment]
    return calls


@pytest.fixture(autouse=True)
def users(db: Any) -> None:
    User.objects.create_user("alice", "alice@example.com", "alice-pw")


async def login(
    client: AsyncClient, url: str, password: str, captcha: str | None = None
) -> HttpResponse:
    data = {"username": "alice", "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    response: HttpResponse = await client.post(url, data)
    return response


async def logged_in(client: AsyncClient) -> bool:
    session = await client.asession()
    return await session.aget("_auth_user_id") is not None


def run(scenario: Any) -> None:
    # async_to_sync: the ORM calls that sync_to_async sends back run on this test's thread,
    # inside its database transaction.
    async_to_sync(scenario)()


@pytest.mark.parametrize("url", ["/accounts/login/", "/async-login/"])
def test_the_4th_failure_asks_for_the_captcha_and_a_lock_gives_429(
    url: str, redis_guard: loginguard.Guard, loop_calls: LoopCalls
) -> None:
    async def scenario() -> None:
        client = AsyncClient()
        for i in range(3):
            r = await login(client, url, f"wrong {i}")
            assert r.status_code == 200
            assert LOGIN_FORM in r.text and CHALLENGE not in r.text
        r = await login(client, url, "wrong 4")
        assert r.status_code == 200 and CHALLENGE in r.text
        r = await login(client, url, "alice-pw")  # no CAPTCHA: the password is not checked
        assert CHALLENGE in r.text and not await logged_in(client)
        # Solving the CAPTCHA each time, the (account, network) lock comes after 10 failures.
        statuses = [(await login(client, url, "wrong", captcha="solved")).status_code]
        while statuses[-1] != 429 and len(statuses) < 12:
            statuses.append((await login(client, url, "wrong", captcha="solved")).status_code)
        assert statuses[-1] == 429, statuses
        r = await login(client, url, "alice-pw", captcha="solved")
        assert r.status_code == 429 and int(r["Retry-After"]) > 0

    run(scenario)
    d = redis_guard.check(account="alice", ip=A)
    assert (d.action, d.reason, d.degraded) == (Action.DENY, Reason.ACCOUNT_IP, False)
    # The event loop's thread only ever made the awaitable calls (never a blocking one).
    assert loop_calls.waits_only_in_awaitables(), loop_calls.on_loop


def test_a_login_after_the_captcha_succeeds_and_clears_the_counter(
    redis_guard: loginguard.Guard,
) -> None:
    async def scenario() -> None:
        client = AsyncClient()
        for i in range(4):
            await login(client, "/async-login/", f"wrong {i}")
        r = await login(client, "/async-login/", "alice-pw", captcha="solved")
        assert r.status_code == 302 and r["Location"] == "/home/"
        assert await logged_in(client)
        assert devices.cookie_name() in r.cookies  # this browser is now trusted

    run(scenario)
    assert redis_guard.check(account="alice", ip=A).action is Action.ALLOW


def test_the_backend_alone_refuses_async_api_logins(
    redis_guard: loginguard.Guard, loop_calls: LoopCalls
) -> None:
    async def scenario() -> None:
        client = AsyncClient()
        for i in range(4):
            r = await login(client, "/api/alogin/", f"wrong {i}")
            assert r.status_code == 401
        r = await login(client, "/api/alogin/", "alice-pw")
        assert r.status_code == 429 and r.json() == {"error": "challenge"}

    run(scenario)
    assert redis_guard.check(account="alice", ip=A).failures == 4
    assert loop_calls.waits_only_in_awaitables(), loop_calls.on_loop


def test_the_middleware_is_async_under_an_async_chain() -> None:
    async def get_response(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    middleware = LoginGuardMiddleware(get_response)
    assert iscoroutinefunction(middleware)
    assert asyncio.iscoroutinefunction(middleware.process_view)
    sync = LoginGuardMiddleware(lambda request: HttpResponse())
    assert not iscoroutinefunction(sync)
    assert not asyncio.iscoroutinefunction(sync.process_view)
