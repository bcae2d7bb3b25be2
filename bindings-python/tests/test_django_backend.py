"""Every ``authenticate()`` is guarded: the admin login, a plain view and a JSON API that call
``authenticate()`` themselves, and Django's ``LoginView``. Past every threshold the right
password does not log in, and each attempt is counted exactly once."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

import loginguard
from loginguard import Action
from loginguard.django import conf, get_guard

pytestmark = pytest.mark.django_db

A = "203.0.113.7"
B = "198.51.100.20"
CHALLENGE = 'id="loginguard-challenge"'
NO_CHALLENGE = "[account]\nchallenge_after = false\n[ip]\nchallenge_after = false\n"


@pytest.fixture(autouse=True)
def users(db: Any) -> None:
    User.objects.create_user("alice", "alice@example.com", "alice-pw", is_staff=True)
    User.objects.create_user("bob", "bob@example.com", "bob-pw", is_staff=True)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def via_login_view(c: Client, username: str, password: str, ip: str, captcha: str | None) -> bool:
    data = {"username": username, "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    r = c.post("/accounts/login/", data, REMOTE_ADDR=ip)
    return r.status_code == 302 and r["Location"] == "/home/" and logged_in(c)


def via_admin(c: Client, username: str, password: str, ip: str, captcha: str | None) -> bool:
    data = {"username": username, "password": password, "next": "/admin/"}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    r = c.post("/admin/login/", data, REMOTE_ADDR=ip)
    return r.status_code == 302 and r["Location"] == "/admin/" and logged_in(c)


def via_plain_view(c: Client, username: str, password: str, ip: str, captcha: str | None) -> bool:
    data = {"username": username, "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    r = c.post("/plain-login/", data, REMOTE_ADDR=ip)
    return r.status_code == 200 and r.text == f"welcome {username}" and logged_in(c)


def via_json_view(c: Client, username: str, password: str, ip: str, captcha: str | None) -> bool:
    body = json.dumps({"username": username, "password": password})
    r = c.post("/api/login/", body, content_type="application/json", REMOTE_ADDR=ip)
    return r.status_code == 200 and r.json() == {"token": f"token-for-{username}"}


def via_protected_view(
    c: Client, username: str, password: str, ip: str, captcha: str | None
) -> bool:
    data = {"username": username, "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    r = c.post("/protected-login/", data, REMOTE_ADDR=ip)
    return r.status_code == 200 and r.text == f"welcome {username}" and logged_in(c)


Flow = Callable[[Client, str, str, str, "str | None"], bool]
FLOWS: dict[str, Flow] = {
    "login_view": via_login_view,
    "admin": via_admin,
    "plain_view": via_plain_view,
    "json_view": via_json_view,
    "protected_view": via_protected_view,
}
# The flows whose form can carry a solved CAPTCHA.
WITH_CAPTCHA = ["login_view", "admin", "plain_view", "protected_view"]


def policy(settings: Any, toml: str) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": toml}


@pytest.mark.parametrize("flow", FLOWS)
def test_the_right_password_logs_in(flow: str) -> None:
    assert FLOWS[flow](Client(), "alice", "alice-pw", A, None)


@pytest.mark.parametrize("flow", FLOWS)
def test_past_challenge_the_right_password_without_captcha_does_not_log_in(flow: str) -> None:
    attempt = FLOWS[flow]
    for _ in range(4):
        assert not attempt(Client(), "alice", "wrong", A, None)
    c = Client()
    assert not attempt(c, "alice", "alice-pw", A, None)
    assert not logged_in(c)
    assert get_guard().check(account="alice", ip=A).action is Action.CHALLENGE


@pytest.mark.parametrize("flow", WITH_CAPTCHA)
def test_past_challenge_a_solved_captcha_lets_the_right_password_in(flow: str) -> None:
    attempt = FLOWS[flow]
    for _ in range(4):
        attempt(Client(), "alice", "wrong", A, None)
    assert not attempt(Client(), "alice", "alice-pw", A, "wrong-answer")
    assert attempt(Client(), "alice", "alice-pw", A, "solved")
    assert get_guard().check(account="alice", ip=A).action is Action.ALLOW


@pytest.mark.parametrize("flow", FLOWS)
def test_past_the_account_ip_lock_the_right_password_does_not_log_in(
    flow: str, settings: Any
) -> None:
    policy(settings, NO_CHALLENGE)
    attempt = FLOWS[flow]
    for _ in range(11):
        assert not attempt(Client(), "alice", "wrong", A, None)
    d = get_guard().check(account="alice", ip=A)
    assert (d.action, d.reason) == (Action.DENY, loginguard.Reason.ACCOUNT_IP)
    assert not attempt(Client(), "alice", "alice-pw", A, None)
    assert get_guard().check(account="alice", ip=A).failures == 11  # refused, not counted


@pytest.mark.parametrize("flow", FLOWS)
def test_past_the_ip_deny_the_right_password_does_not_log_in(flow: str, settings: Any) -> None:
    policy(settings, NO_CHALLENGE)
    attempt = FLOWS[flow]
    for i in range(51):
        assert not attempt(Client(), f"user{i}", "guess", A, None)
    d = get_guard().check(ip=A)
    assert (d.action, d.reason) == (Action.DENY, loginguard.Reason.IP)
    assert not attempt(Client(), "alice", "alice-pw", A, None)
    assert attempt(Client(), "alice", "alice-pw", B, None)  # another network is not blocked


@pytest.mark.parametrize("flow", FLOWS)
def test_past_reset_required_the_right_password_does_not_log_in(flow: str, settings: Any) -> None:
    policy(settings, "[account]\nchallenge_after = false\nreset_after = 5\n")
    attempt = FLOWS[flow]
    for i in range(6):
        assert not attempt(Client(), "alice", "wrong", f"192.0.2.{i}", None)
    assert get_guard().check(account="alice").action is Action.RESET_REQUIRED
    assert not attempt(Client(), "alice", "alice-pw", B, None)
    get_guard().advance_ms(7 * 24 * 3600 * 1000)
    assert not attempt(Client(), "alice", "alice-pw", B, None)


def test_120_wrong_admin_passwords_from_one_network_then_the_right_one() -> None:
    attacker = Client()
    for i in range(120):
        assert not via_admin(attacker, "alice", f"guess{i}", A, "solved")
    assert get_guard().check(account="alice", ip=A).action is not Action.ALLOW
    c = Client()
    assert not via_admin(c, "alice", "alice-pw", A, "solved")
    r = c.post(
        "/admin/login/",
        {"username": "alice", "password": "alice-pw", "loginguard-captcha": "solved"},
        REMOTE_ADDR=A,
    )
    assert r.status_code == 429 and "on this account" in r.text
    assert not logged_in(c)


class CountingGuard:
    """Delegates to the real guard and counts the calls that record something."""

    def __init__(self, guard: loginguard.Guard) -> None:
        self.guard = guard
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.guard, name)
        if name not in ("begin", "record_failure", "record_success"):
            return method

        def counted(**kwargs: Any) -> Any:
            key = name + ("(after_begin)" if kwargs.get("after_begin") else "")
            self.calls[key] += 1
            return method(**kwargs)

        return counted


@pytest.fixture()
def counting() -> CountingGuard:
    counting = CountingGuard(get_guard())
    conf._guard = counting  # type: ignore[assignment]
    return counting


def failures() -> dict[str, int]:
    return {s.dimension: s.failures for s in get_guard().inspect(account="alice", ip=A).dimensions}


@pytest.mark.parametrize("flow", FLOWS)
def test_one_begin_per_attempt_and_one_success_per_login(
    flow: str, counting: CountingGuard
) -> None:
    attempt = FLOWS[flow]
    assert not attempt(Client(), "alice", "wrong", A, None)
    assert counting.calls == {"begin": 1}
    assert failures() == {"account": 1, "account_ip": 1, "ip": 1, "ip_range": 1}

    counting.calls.clear()
    assert attempt(Client(), "alice", "alice-pw", A, None)
    assert counting.calls == {"begin": 1, "record_success(after_begin)": 1}
    assert failures() == {"account": 0, "account_ip": 0, "ip": 1, "ip_range": 1}


def test_without_the_backend_the_middleware_counts_once(
    counting: CountingGuard, settings: Any
) -> None:
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert not via_login_view(Client(), "alice", "wrong", A, None)
    assert counting.calls == {"begin": 1}
    assert failures() == {"account": 1, "account_ip": 1, "ip": 1, "ip_range": 1}
    counting.calls.clear()
    assert via_login_view(Client(), "alice", "alice-pw", A, None)
    assert counting.calls == {"begin": 1, "record_success(after_begin)": 1}
    assert failures() == {"account": 0, "account_ip": 0, "ip": 1, "ip_range": 1}


def test_a_json_view_can_say_why_it_refused() -> None:
    for _ in range(4):
        via_json_view(Client(), "alice", "wrong", A, None)
    body = json.dumps({"username": "alice", "password": "alice-pw"})
    r = Client().post("/api/login/", body, content_type="application/json", REMOTE_ADDR=A)
    assert (r.status_code, r.json()) == (429, {"error": "challenge"})


def test_a_success_without_login_is_recorded() -> None:
    """DRF's token view authenticates and never calls login()."""
    for _ in range(3):
        assert not via_json_view(Client(), "alice", "wrong", A, None)
    assert get_guard().check(account="alice", ip=A).failures == 3
    assert via_json_view(Client(), "alice", "alice-pw", A, None)
    assert get_guard().check(account="alice", ip=A).failures == 0


def test_authenticate_without_a_request_is_guarded_by_the_account(settings: Any) -> None:
    from django.contrib.auth import authenticate

    for _ in range(4):
        assert authenticate(username="alice", password="wrong") is None
    assert get_guard().check(account="alice").action is Action.CHALLENGE
    assert authenticate(username="alice", password="alice-pw") is None
    get_guard().reset_account("alice")
    user = authenticate(username="alice", password="alice-pw")
    assert user is not None and user.get_username() == "alice"


@pytest.mark.parametrize("middleware", [True, False])
def test_protect_gives_a_view_the_whole_flow(middleware: bool, settings: Any) -> None:
    if not middleware:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "loginguard" not in m]
    settings.LOGINGUARD = {
        **settings.LOGINGUARD,
        "POLICY": "[account]\nreset_after = 20\n[ip]\nchallenge_after = false",
    }

    def post(ip: str = A, **data: str) -> Any:
        return Client().post("/protected-login/", data, REMOTE_ADDR=ip)

    for _ in range(3):
        r = post(username="alice", password="wrong")
        assert r.status_code == 401
    r = post(username="alice", password="wrong")  # the 4th failure: the CAPTCHA step
    assert r.status_code == 200 and CHALLENGE in r.text
    r = post(username="alice", password="alice-pw")
    assert r.status_code == 200 and CHALLENGE in r.text
    for _ in range(7):
        r = post(username="alice", password="wrong", **{"loginguard-captcha": "solved"})
    assert r.status_code == 429 and r["Retry-After"] == "60" and "on this account" in r.text
    for i in range(10):
        post(f"192.0.2.{i}", username="alice", password="wrong", **{"loginguard-captcha": "solved"})
    r = post(B, username="alice", password="alice-pw", **{"loginguard-captcha": "solved"})
    assert r.status_code == 302 and r["Location"] == "/accounts/password_reset/"
    assert get_guard().check(account="alice").failures == 21  # each attempt counted once
    r = post(B, username="a" * 1100, password="x")
    assert r.status_code == 400


def test_aauthenticate_is_guarded_too() -> None:
    from asgiref.sync import async_to_sync
    from django.contrib.auth import aauthenticate

    for _ in range(4):
        assert async_to_sync(aauthenticate)(username="alice", password="wrong") is None
    assert async_to_sync(aauthenticate)(username="alice", password="alice-pw") is None
    assert get_guard().check(account="alice").failures == 4


# --- credentials that name the account ------------------------------------------------------


def authenticate_from(ip: str, **credentials: Any) -> Any:
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    return authenticate(RequestFactory().post("/", REMOTE_ADDR=ip), **credentials)


def ip_failures(ip: str) -> int:
    return get_guard().inspect(ip=ip).dimensions[0].failures


def test_a_phone_login_is_keyed_by_the_phone() -> None:
    """allauth's phone login: ``authenticate(request, phone=..., password=...)``."""
    for i in range(4):
        assert authenticate_from(f"192.0.2.{i}", phone="+15550100", password="wrong") is None
    d = get_guard().check(account="+15550100")
    assert (d.action, d.failures) == (Action.CHALLENGE, 4)


def test_a_name_given_as_none_gives_way_to_the_next(settings: Any) -> None:
    """``username=None, email=...`` (an email-login backend): the email is the account."""
    for i in range(4):
        assert (
            authenticate_from(f"192.0.2.{i}", username=None, email="bob@x", password="no") is None
        )
    assert get_guard().check(account="bob@x").action is Action.CHALLENGE


def test_extra_account_credentials_from_the_setting(settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "ACCOUNT_CREDENTIALS": ["customer_number"]}
    for i in range(4):
        assert authenticate_from(f"192.0.2.{i}", customer_number="C-17", password="x") is None
    assert get_guard().check(account="c-17").action is Action.CHALLENGE


@pytest.mark.parametrize(
    "value", ["customer_number", ["username", 3], [""], {"customer_number": 1}]
)
def test_account_credentials_must_be_a_list_of_names(value: Any, settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.LOGINGUARD = {**settings.LOGINGUARD, "ACCOUNT_CREDENTIALS": value}
    with pytest.raises(ImproperlyConfigured, match=r"ACCOUNT_CREDENTIALS"):
        authenticate_from(A, username="alice", password="alice-pw")


@pytest.mark.parametrize(
    "credentials",
    [
        {"customer_number": "C-17", "password": "x"},
        {"username": None, "password": "x"},
        {"username": " ", "password": "x"},
        {"username": None, "email": None, "phone": None, "password": "x"},
    ],
)
def test_a_password_login_without_a_name_is_refused_not_counted_on_the_network(
    credentials: dict[str, Any], caplog: pytest.LogCaptureFixture, counting: CountingGuard
) -> None:
    with caplog.at_level("WARNING", logger="loginguard.django"):
        assert authenticate_from(A, **credentials) is None
    assert counting.calls == {}
    assert ip_failures(A) == 0
    (record,) = [r for r in caplog.records if r.name == "loginguard.django"]
    seen = ", ".join(sorted(credentials))
    assert record.levelname == "WARNING" and seen in record.getMessage()
    assert "C-17" not in record.getMessage() and "'x'" not in record.getMessage()


# --- names that differ only in case ---------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS)
def test_a_login_as_alice_in_other_case_does_not_clear_alices_counters(flow: str) -> None:
    """Django's users ``alice`` and ``Alice`` are two users but, folded, one account: a login
    as the attacker's ``Alice`` must not forget the guesses on ``alice``."""
    User.objects.create_user("Alice", "attacker@example.com", "Alice-pw", is_staff=True)
    attempt = FLOWS[flow]
    for _ in range(3):
        assert not attempt(Client(), "alice", "wrong", A, None)
    assert attempt(Client(), "Alice", "Alice-pw", A, None)
    ip, ip_range = get_guard().inspect(ip=A).dimensions
    assert (ip.failures, ip_range.failures) == (3, 3)  # the network's advance taken back
    assert not attempt(Client(), "alice", "wrong", A, None)
    assert get_guard().check(account="alice").action is Action.CHALLENGE


def test_a_login_as_the_only_alice_still_clears_her_counters() -> None:
    for _ in range(3):
        assert not via_login_view(Client(), "alice", "wrong", A, None)
    assert via_login_view(Client(), "alice", "alice-pw", A, None)
    assert get_guard().check(account="alice").failures == 0


def test_aauthenticate_as_alice_in_other_case_does_not_clear_alices_counters() -> None:
    from asgiref.sync import async_to_sync
    from django.contrib.auth import aauthenticate

    User.objects.create_user("Alice", "attacker@example.com", "Alice-pw")
    for _ in range(3):
        assert async_to_sync(aauthenticate)(username="alice", password="wrong") is None
    assert async_to_sync(aauthenticate)(username="Alice", password="Alice-pw") is not None
    assert get_guard().check(account="alice").failures == 4  # the begin's advance stays


def test_under_exact_names_alice_and_alice_in_other_case_are_cleared_apart(settings: Any) -> None:
    """``account_normalize = "exact"`` keys ``Alice`` and ``alice`` apart: each login clears
    its own account."""
    policy(settings, 'account_normalize = "exact"')
    User.objects.create_user("Alice", "attacker@example.com", "Alice-pw", is_staff=True)
    for _ in range(3):
        assert not via_login_view(Client(), "Alice", "wrong", A, None)
        assert not via_login_view(Client(), "alice", "wrong", A, None)
    assert via_login_view(Client(), "Alice", "Alice-pw", A, None)
    assert get_guard().check(account="Alice").failures == 0
    assert get_guard().check(account="alice").failures == 3
