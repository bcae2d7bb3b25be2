"""Django REST framework's ``obtain_auth_token`` and django-allauth's login are guarded by
``LoginGuardBackend``: past the thresholds the right password is refused, and API clients get a
JSON 429 that says why (``loginguard.django.drf.exception_handler``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from test_django import followed_reset_link

from loginguard import Action
from loginguard.django import get_guard
from loginguard.django.drf import json_refusal, refusal_message, refused_decision

pytestmark = pytest.mark.django_db

A = "203.0.113.7"
B = "198.51.100.20"
TOKEN_URL = "/api/token/"
ALLAUTH_LOGIN = "/allauth/login/"


@pytest.fixture(autouse=True)
def users(db: Any) -> None:
    User.objects.create_user("alice", "alice@example.com", "alice-pw")


def token_json(username: str, password: str, ip: str = A) -> Any:
    return Client().post(
        TOKEN_URL,
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        REMOTE_ADDR=ip,
    )


def token_form(username: str, password: str, ip: str = A, captcha: str | None = None) -> Any:
    data = {"username": username, "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha  # the test project's StaticCaptcha
    return Client().post(TOKEN_URL, data, REMOTE_ADDR=ip)


# --- Django REST framework -------------------------------------------------------------------


def test_drf_token_view_works_and_counts_failures() -> None:
    r = token_json("alice", "alice-pw")
    assert r.status_code == 200
    assert r.json() == {"token": Token.objects.get(user__username="alice").key}
    r = token_json("alice", "wrong")
    assert r.status_code == 400  # DRF's own answer to a wrong password, unchanged
    assert r.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert get_guard().check(account="alice", ip=A).failures == 1


def test_drf_past_challenge_after_the_right_password_gets_a_json_429() -> None:
    for _ in range(4):
        assert token_json("alice", "wrong").status_code == 400
    r = token_json("alice", "alice-pw")
    assert r.status_code == 429
    assert r["Content-Type"] == "application/json"
    assert r.json() == {
        "detail": "Too many failed logins: solve the CAPTCHA to log in.",
        "action": "challenge",
        "reason": "account",
        "retry_after_ms": None,
    }
    assert "Retry-After" not in r
    assert not Token.objects.exists()
    # Refused attempts are not counted.
    assert get_guard().check(account="alice", ip=A).failures == 4


def test_drf_a_solved_captcha_lets_the_password_be_checked() -> None:
    for _ in range(4):
        token_form("alice", "wrong")
    assert token_form("alice", "alice-pw").status_code == 429
    r = token_form("alice", "alice-pw", captcha="solved")
    assert r.status_code == 200 and "token" in r.json()
    assert get_guard().check(account="alice", ip=A).action is Action.ALLOW


def test_drf_a_lock_answers_429_with_retry_after() -> None:
    for _ in range(11):
        assert token_form("alice", "wrong", captcha="solved").status_code == 400
    get_guard().advance_ms(15_000)
    r = token_form("alice", "alice-pw", captcha="solved")
    assert r.status_code == 429
    assert r["Retry-After"] == "45"
    assert r.json() == {
        "detail": "Too many failed logins on this account. Try again in 45 seconds.",
        "action": "deny",
        "reason": "account_ip",
        "retry_after_ms": 45_000,
    }
    assert not Token.objects.exists()
    # The account from another network still gets its CAPTCHA step, not the lock.
    assert token_json("alice", "alice-pw", ip=B).json()["action"] == "challenge"
    get_guard().advance_ms(45_000)
    assert token_form("alice", "alice-pw", captcha="solved").status_code == 200


def test_drf_a_network_lock_says_so() -> None:
    for i in range(51):
        get_guard().record_failure(account=f"user{i}", ip=B)
    r = token_json("alice", "alice-pw", ip=B)
    assert r.status_code == 429
    body = r.json()
    assert (body["action"], body["reason"]) == ("deny", "ip")
    assert "from your network" in body["detail"]
    assert r["Retry-After"] == str(body["retry_after_ms"] // 1000)


def test_drf_the_deny_list_answers_403(settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": 'deny_cidrs = ["198.51.100.0/24"]'}
    r = token_json("alice", "alice-pw", ip=B)
    assert r.status_code == 403
    assert r.json() == {
        "detail": "Logins from your network are blocked.",
        "action": "deny",
        "reason": "denylist",
        "retry_after_ms": None,
    }
    assert "Retry-After" not in r


def test_drf_other_errors_keep_drfs_answers() -> None:
    r = Client().post(TOKEN_URL, {"username": "alice"}, REMOTE_ADDR=A)
    assert r.status_code == 400 and "password" in r.json()
    r = Client().post(TOKEN_URL, "{", content_type="application/json", REMOTE_ADDR=A)
    assert r.status_code == 400 and "detail" in r.json()
    assert Client().get(TOKEN_URL).status_code == 405


def test_json_refusal_for_a_hand_written_view() -> None:
    from django.contrib.auth import authenticate
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    for _ in range(11):
        get_guard().record_failure(account="alice", ip=A)
    request = RequestFactory().post("/login", REMOTE_ADDR=A)
    request.session = SessionStore()
    assert json_refusal(request) is None  # nothing refused yet
    assert authenticate(request, username="alice", password="alice-pw") is None
    response = json_refusal(request)
    assert response is not None and response.status_code == 429
    assert response["Retry-After"] == "60"
    assert json.loads(response.content)["reason"] == "account_ip"


# --- django-allauth --------------------------------------------------------------------------


def allauth_login(
    c: Client, password: str, ip: str = A, captcha: str | None = None, login: str = "alice"
) -> Any:
    data = {"login": login, "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    return c.post(ALLAUTH_LOGIN, data, REMOTE_ADDR=ip)


def logged_in(c: Client) -> bool:
    return "_auth_user_id" in c.session


def test_allauth_login_works_and_counts_failures() -> None:
    c = Client()
    r = allauth_login(c, "wrong")
    assert r.status_code == 200 and not logged_in(c)
    assert get_guard().check(account="alice", ip=A).failures == 1
    r = allauth_login(c, "alice-pw")
    assert r.status_code == 302 and logged_in(c)
    assert get_guard().check(account="alice", ip=A).failures == 0


def test_allauth_past_the_thresholds_the_right_password_is_refused() -> None:
    for _ in range(4):
        assert allauth_login(Client(), "wrong").status_code == 200
    c = Client()
    r = allauth_login(c, "alice-pw")
    assert r.status_code == 200 and not logged_in(c)
    assert get_guard().check(account="alice", ip=A).failures == 4  # refused: not counted
    # The CAPTCHA's field posted with the form passes the challenge.
    for _ in range(7):
        allauth_login(Client(), "wrong", captcha="solved")
    r = allauth_login(c, "alice-pw", captcha="solved")
    assert r.status_code == 200 and not logged_in(c)  # now locked
    assert get_guard().check(account="alice", ip=A).action is Action.DENY
    get_guard().advance_ms(60_000)
    r = allauth_login(c, "alice-pw", captcha="solved")
    assert r.status_code == 302 and logged_in(c)


class LoginGuardAccountAdapter(DefaultAccountAdapter):
    """The README's allauth adapter: a refused login says why on allauth's form."""

    def authentication_failed(self, request: Any, **credentials: Any) -> None:
        decision = refused_decision(request)
        if decision is not None:
            raise forms.ValidationError(refusal_message(decision))


def test_allauth_adapter_shows_why(settings: Any) -> None:
    settings.ACCOUNT_ADAPTER = "test_drf_allauth.LoginGuardAccountAdapter"
    for _ in range(11):
        get_guard().record_failure(account="alice", ip=A)
    r = allauth_login(Client(), "alice-pw", captcha="solved")
    assert r.status_code == 200
    assert "Too many failed logins on this account. Try again in 60 seconds." in r.text
    r = allauth_login(Client(), "wrong", ip=B, login="bob")  # not refused: allauth's message
    assert r.status_code == 200
    assert "Too many failed logins" not in r.text
    assert "The username and/or password you specified are not correct." in r.text


def test_allauth_password_reset_unlocks_a_reset_required_account(settings: Any) -> None:
    """allauth's ``PasswordResetFromKeyView`` lifts ``reset_required`` as Django's does."""
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": "[account]\nreset_after = 5"}
    for i in range(6):
        allauth_login(Client(), "wrong", ip=f"192.0.2.{i}", captcha="solved")
    assert get_guard().check(account="alice").action is Action.RESET_REQUIRED

    c = Client()
    r = c.post("/allauth/password/reset/", {"email": "alice@example.com"}, REMOTE_ADDR=B)
    assert r.status_code == 302
    r = c.post(
        followed_reset_link(c),
        {"password1": "a-new-long-password", "password2": "a-new-long-password"},
        REMOTE_ADDR=B,
    )
    assert r.status_code == 302
    assert get_guard().check(account="alice").action is Action.ALLOW
    assert allauth_login(Client(), "a-new-long-password", ip=B).status_code == 302
