"""loginguard.django on a real small project: the test client drives Django's own LoginView
and password-reset views through LoginGuardMiddleware."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.test import Client, RequestFactory

import loginguard
from loginguard.django import client_ip, get_guard, guard_event

pytestmark = pytest.mark.django_db

A = "203.0.113.7"  # alice's usual network
B = "198.51.100.20"  # another network (mobile data)
CHALLENGE = 'id="loginguard-challenge"'
LOGIN_FORM = 'id="login"'


def followed_reset_link(c: Client) -> str:
    """Follows the link of the first password-reset email sent; the set-password URL it
    redirects to."""
    link = re.search(r"https?://testserver(\S+)", mail.outbox[0].body)
    assert link is not None
    r = c.get(link.group(1), REMOTE_ADDR=B)
    assert r.status_code == 302  # to the set-password URL
    return str(r["Location"])


def reset_alices_password(c: Client) -> None:
    """Asks for a reset of alice's password, follows the emailed link and sets
    "a-new-long-password"."""
    r = c.post("/accounts/password_reset/", {"email": "alice@example.com"}, REMOTE_ADDR=B)
    assert r.status_code == 302
    r = c.post(
        followed_reset_link(c),
        {"new_password1": "a-new-long-password", "new_password2": "a-new-long-password"},
        REMOTE_ADDR=B,
    )
    assert r.status_code == 302 and r["Location"] == "/accounts/reset/done/"


@pytest.fixture(autouse=True)
def users(db: Any) -> None:
    User.objects.create_user("alice", "alice@example.com", "alice-pw")
    User.objects.create_user("bob", "bob@example.com", "bob-pw")


def login(
    client: Client,
    username: str,
    password: str,
    ip: str = A,
    captcha: str | None = None,
    **extra: Any,
) -> Any:
    data = {"username": username, "password": password}
    if captcha is not None:
        data["loginguard-captcha"] = captcha
    return client.post("/accounts/login/", data, REMOTE_ADDR=ip, **extra)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_seed_story_end_to_end() -> None:
    alice = Client()
    for _ in range(3):
        r = login(alice, "alice", "wrong")
        assert r.status_code == 200
        assert LOGIN_FORM in r.text and CHALLENGE not in r.text
    r = login(alice, "alice", "wrong")  # more than 3 errors: the CAPTCHA step appears
    assert r.status_code == 200
    assert CHALLENGE in r.text and 'name="loginguard-captcha"' in r.text

    r = login(alice, "alice", "alice-pw")  # the right password, no CAPTCHA: not checked
    assert CHALLENGE in r.text
    assert not logged_in(alice)
    r = login(alice, "alice", "alice-pw", captcha="wrong-answer")
    assert CHALLENGE in r.text and not logged_in(alice)

    # An attacker on alice's network sprays other accounts, solving CAPTCHAs, until the
    # network is over its limit (50 failures).
    attacker = Client()
    for i in range(51):
        r = login(attacker, f"user{i}", "guess", captcha="solved")
    assert r.status_code == 429

    # "I validated my captcha but the connection is still refused"
    r = login(alice, "alice", "alice-pw", captcha="solved")
    assert r.status_code == 429
    assert int(r["Retry-After"]) == 15 * 60
    assert "from your network" in r.text and "another network" in r.text
    assert not logged_in(alice)

    # From mobile data the network block does not apply; the account still asks for the CAPTCHA.
    phone = Client()
    r = login(phone, "alice", "alice-pw", ip=B)
    assert CHALLENGE in r.text
    r = login(phone, "alice", "alice-pw", ip=B, captcha="solved")
    assert r.status_code == 302 and r["Location"] == "/home/"
    assert logged_in(phone)
    assert phone.get("/home/").text == "hello alice"
    # The success cleared alice's account counter (and took back begin's advance).
    assert get_guard().check(account="alice", ip=B).action is loginguard.Action.ALLOW


def test_account_lock_answers_429_saying_the_account() -> None:
    c = Client()
    for _ in range(11):
        r = login(c, "alice", "wrong", captcha="solved")
    assert r.status_code == 429
    assert "on this account" in r.text
    assert r["Retry-After"] == "60"
    get_guard().advance_ms(60_000)
    r = login(c, "alice", "alice-pw", captcha="solved")
    assert r.status_code == 302


def test_password_reset_unlocks_a_reset_required_account(settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": "[account]\nreset_after = 5"}
    c = Client()
    for i in range(6):
        login(c, "alice", "wrong", ip=f"192.0.2.{i}", captcha="solved")
    r = login(c, "alice", "alice-pw", ip=B, captcha="solved")
    assert r.status_code == 302 and r["Location"] == "/accounts/password_reset/"
    assert not logged_in(c)
    get_guard().advance_ms(7 * 24 * 3600 * 1000)  # waiting does not help
    r = login(c, "alice", "alice-pw", ip=B, captcha="solved")
    assert r["Location"] == "/accounts/password_reset/"

    reset_alices_password(c)

    assert get_guard().check(account="alice", ip=B).action is loginguard.Action.ALLOW
    r = login(c, "alice", "a-new-long-password", ip=B)
    assert r.status_code == 302 and r["Location"] == "/home/"


def test_password_reset_unlocks_the_email_the_user_logs_in_with(settings: Any) -> None:
    """Under an email-login backend the account is the email: a reset lifts it too."""
    from django.contrib.auth import authenticate

    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": "[account]\nreset_after = 5"}
    rf = RequestFactory()
    for i in range(6):
        req = rf.post("/", {"loginguard-captcha": "solved"}, REMOTE_ADDR=f"192.0.2.{i}")
        assert authenticate(req, email="alice@example.com", password="wrong") is None
    d = get_guard().check(account="alice@example.com")
    assert d.action is loginguard.Action.RESET_REQUIRED

    c = Client()
    reset_alices_password(c)
    assert get_guard().check(account="alice@example.com").action is loginguard.Action.ALLOW


def test_an_invalid_reset_does_not_unlock(settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": "[account]\nreset_after = 5"}
    c = Client()
    for i in range(6):
        login(c, "alice", "wrong", ip=f"192.0.2.{i}", captcha="solved")
    r = c.post(
        "/accounts/reset/MQ/set-password/",
        {"new_password1": "a-new-long-password", "new_password2": "a-new-long-password"},
        REMOTE_ADDR=B,
    )
    assert r.status_code == 200  # no valid token in the session
    assert get_guard().check(account="alice").action is loginguard.Action.RESET_REQUIRED


def test_trusted_device_logs_in_during_an_attack() -> None:
    laptop = Client()
    assert login(laptop, "alice", "alice-pw").status_code == 302
    device_cookie = laptop.cookies["loginguard_device"].value
    laptop.logout()  # the test client's logout drops every cookie; a browser keeps this one
    laptop.cookies["loginguard_device"] = device_cookie

    attacker = Client()
    for i in range(101):  # 101 failures on alice from 101 networks, alice's own included
        ip = A if i == 0 else f"192.0.2.{i}"
        login(attacker, "alice", "guess", ip=ip, captcha="solved")
    assert get_guard().check(account="alice").action is loginguard.Action.RESET_REQUIRED

    r = login(laptop, "alice", "alice-pw")
    assert r.status_code == 302 and r["Location"] == "/home/"
    assert logged_in(laptop)

    browser = Client()  # an untrusted browser on the same network
    r = login(browser, "alice", "alice-pw")
    assert r["Location"] == "/accounts/password_reset/"
    assert not logged_in(browser)


def test_bobs_device_cookie_does_nothing_on_alices_login() -> None:
    shared = Client()
    assert login(shared, "bob", "bob-pw").status_code == 302
    bobs_cookie = shared.cookies["loginguard_device"].value
    shared.logout()
    for _ in range(4):
        login(Client(), "alice", "wrong", ip=B)

    shared.cookies["loginguard_device"] = bobs_cookie
    r = login(shared, "alice", "alice-pw")
    assert CHALLENGE in r.text and not logged_in(shared)

    # A tampered cookie is ignored too.
    shared.cookies["loginguard_device"] = bobs_cookie.replace("bob", "alice")
    r = login(shared, "alice", "alice-pw")
    assert CHALLENGE in r.text and not logged_in(shared)


@pytest.mark.parametrize("how", ["reset", "change"])
def test_a_new_password_revokes_the_accounts_device_cookies(how: str) -> None:
    laptop = Client()
    assert login(laptop, "alice", "alice-pw").status_code == 302
    device_cookie = laptop.cookies["loginguard_device"].value
    laptop.logout()

    if how == "reset":  # the "I forgot my password" flow, from another browser
        c = Client()
        c.post("/accounts/password_reset/", {"email": "alice@example.com"}, REMOTE_ADDR=B)
        set_password_url = followed_reset_link(c)
        r = c.post(
            set_password_url,
            {"new_password1": "a-new-long-password", "new_password2": "a-new-long-password"},
            REMOTE_ADDR=B,
        )
        assert r.status_code == 302
    else:
        user = User.objects.get(username="alice")
        user.set_password("a-new-long-password")
        user.save()

    attacker = Client()  # whoever kept the old cookie is an untrusted browser now
    for i in range(101):
        login(attacker, "alice", "guess", ip=f"192.0.2.{i}", captcha="solved")
    laptop.cookies["loginguard_device"] = device_cookie
    r = login(laptop, "alice", "a-new-long-password")
    assert r["Location"] == "/accounts/password_reset/"
    assert not logged_in(laptop)


def _lock_network(ip: str) -> None:
    c = Client()
    for i in range(51):
        login(c, f"user{i}", "guess", ip=ip, captcha="solved")
    assert get_guard().check(ip=ip).action is loginguard.Action.DENY


def test_spoofed_x_forwarded_for_is_ignored_by_default() -> None:
    _lock_network(A)
    c = Client()
    r = login(c, "alice", "alice-pw", HTTP_X_FORWARDED_FOR=B)
    assert r.status_code == 429
    assert "from your network" in r.text
    assert not logged_in(c)


def test_trusted_proxies_take_the_rightmost_untrusted_hop(settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["192.0.2.0/24"]}
    _lock_network(B)
    proxy = "192.0.2.1"
    # The client forged a left-most hop; the proxy appended the real address (B).
    r = login(Client(), "alice", "alice-pw", ip=proxy, HTTP_X_FORWARDED_FOR=f"{A}, {B}")
    assert r.status_code == 429
    r = login(Client(), "alice", "alice-pw", ip=proxy, HTTP_X_FORWARDED_FOR=f"{B}, {A}")
    assert r.status_code == 302


def test_client_ip(settings: Any) -> None:
    rf = RequestFactory()
    req = rf.get("/", REMOTE_ADDR=A, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(req) == A
    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["192.0.2.0/24", "::1/128"]}
    assert client_ip(req) == A  # REMOTE_ADDR is not a trusted proxy
    req = rf.get("/", REMOTE_ADDR="::1", HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.9 , 192.0.2.8")
    assert client_ip(req) == "1.2.3.4"
    req = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="192.0.2.3")
    assert client_ip(req) == "192.0.2.3"
    req = rf.get("/", REMOTE_ADDR="192.0.2.1")
    assert client_ip(req) == "192.0.2.1"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.5:51234", "203.0.113.5"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("1.2.3.4, 203.0.113.5:51234, 192.0.2.9:8080", "203.0.113.5"),
        ("1.2.3.4, [2001:db8::1]:443, [::1]:80", "2001:db8::1"),
    ],
)
def test_client_ip_takes_hops_with_a_port(forwarded: str, expected: str, settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["192.0.2.0/24", "::1/128"]}
    req = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(req) == expected


def test_unix_in_trusted_proxies_trusts_an_empty_remote_addr(settings: Any) -> None:
    """nginx in front of gunicorn on a unix socket: ``REMOTE_ADDR`` is empty."""
    rf = RequestFactory()
    req = rf.get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["192.0.2.0/24"]}
    assert client_ip(req) == ""  # an empty REMOTE_ADDR is no proxy unless "unix" says so
    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["unix", "192.0.2.0/24"]}
    assert client_ip(req) == "203.0.113.5"
    req = rf.get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.7:80")
    assert client_ip(req) == "1.2.3.4"
    req = rf.get("/", REMOTE_ADDR=A, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(req) == A  # "unix" trusts no address


def test_trusted_proxies_must_be_networks_or_unix(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["192.0.2.0/24", "nginx"]}
    with pytest.raises(ImproperlyConfigured, match=r"TRUSTED_PROXIES.*'nginx'"):
        client_ip(RequestFactory().get("/", REMOTE_ADDR=A))


def test_an_unknown_client_ip_is_logged_once(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "TRUSTED_PROXIES": ["192.0.2.0/24"]}
    with caplog.at_level("WARNING", logger="loginguard.django"):
        assert login(Client(), "alice", "wrong", ip="").status_code == 200
        assert login(Client(), "alice", "wrong", ip="unknown").status_code == 200
    warnings = [r for r in caplog.records if r.name == "loginguard.django"]
    assert len(warnings) == 1 and "client IP" in warnings[0].getMessage()
    assert "unix" in warnings[0].getMessage()
    assert get_guard().check(account="alice").failures == 2  # the account still counts


def _normalized(response: Any, username: str) -> tuple[int, str | None, str]:
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.text)
    return response.status_code, response.get("Retry-After"), body.replace(username, "NAME")


def test_unknown_and_known_usernames_get_the_same_responses() -> None:
    def story(username: str, ip: str) -> list[tuple[int, str | None, str]]:
        c = Client()
        steps = [login(c, username, "wrong", ip=ip) for _ in range(5)]
        steps += [login(c, username, "wrong", ip=ip, captcha="solved") for _ in range(7)]
        return [_normalized(r, username) for r in steps]

    known, unknown = story("alice", A), story("nobody", B)
    assert known == unknown
    assert [s[0] for s in known] == [200] * 11 + [429]


def test_events_are_a_django_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[loginguard.Event] = []

    def receiver(sender: Any, event: loginguard.Event, **kwargs: Any) -> None:
        seen.append(event)

    guard_event.connect(receiver)
    try:
        for _ in range(4):
            login(Client(), "alice", "wrong")
    finally:
        guard_event.disconnect(receiver)
    assert [(e.kind, e.dimension, e.account, e.ip) for e in seen] == [
        ("challenge", "account", "alice", A)
    ]

    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log is down")

    guard_event.connect(broken)
    try:
        responses = [login(Client(), "bob", "wrong", ip=B) for _ in range(4)]
        r = login(Client(), "alice", "alice-pw", captcha="solved")
    finally:
        guard_event.disconnect(broken)
    assert [str(u.exc_value) for u in reported] == ["audit log is down"]
    assert CHALLENGE in responses[-1].text  # the decision stands
    assert get_guard().check(account="bob").failures == 4
    assert r.status_code == 302


def test_a_site_wide_attack_asks_everyone_for_the_captcha(
    settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": '[site]\nchallenge_when = "5/1m"'}
    seen: list[loginguard.Event] = []

    def receiver(sender: Any, event: loginguard.Event, **kwargs: Any) -> None:
        seen.append(event)

    guard_event.connect(receiver)
    try:
        # A botnet: one failed login each, from networks of their own, on leaked usernames.
        for i in range(5):
            r = login(Client(), f"leaked{i}", "leaked-pw", ip=f"192.0.{i}.1")
            assert CHALLENGE not in r.text
        # The sixth failure in a minute is above the trigger: its next attempt needs a CAPTCHA.
        r = login(Client(), "leaked5", "leaked-pw", ip="192.0.5.1")
        assert CHALLENGE in r.text
    finally:
        guard_event.disconnect(receiver)
    assert [(e.kind, e.dimension, e.failures) for e in seen] == [("site_attack_started", None, 6)]
    # bob has never failed, yet sees the CAPTCHA, saying why; with it solved he logs in.
    bob = Client()
    r = login(bob, "bob", "bob-pw", ip=B)
    assert CHALLENGE in r.text and not logged_in(bob)
    assert "We are seeing unusual login activity, please complete the CAPTCHA." in r.text
    r = login(bob, "bob", "bob-pw", ip=B, captcha="solved")
    assert r.status_code == 302 and logged_in(bob)
    # Support sees why.
    call_command("loginguard", "inspect", "--account", "carol")
    out = capsys.readouterr().out
    assert "decision: challenge site failures=6" in out
    assert "site: attack since_ms=0 failures=6 in 60s (trigger 5)" in out
    # A challenge of alice's own failures keeps its own words.
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": ""}
    for _ in range(4):
        r = login(Client(), "alice", "wrong")
    assert CHALLENGE in r.text and "There were several failed logins" in r.text


def test_management_command(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(11):
        login(Client(), "alice", "wrong", captcha="solved")
    call_command("loginguard", "inspect", "--account", "alice", "--ip", A)
    out = capsys.readouterr().out
    assert "decision: deny account_ip retry=60000 failures=11" in out
    assert "account_ip: deny failures=11 consecutive=11 locked_until_ms=60000" in out
    call_command("loginguard", "unlock", "--account", "alice", "--ip", A)
    assert "unlocked account 'alice'" in capsys.readouterr().out
    assert get_guard().check(account="alice", ip=A).action is loginguard.Action.ALLOW
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="invalid_ip"):
        call_command("loginguard", "unlock", "--ip", "not-an-ip")
    with pytest.raises(CommandError):
        call_command("loginguard", "inspect")


def _api_request(**data: str) -> Any:
    from django.contrib.sessions.backends.db import SessionStore

    req = RequestFactory().post("/api/login", data, REMOTE_ADDR=B)
    req.session = SessionStore()
    return req


def test_authenticate_elsewhere_is_guarded_by_the_backend() -> None:
    from django.contrib import auth

    for _ in range(4):
        assert auth.authenticate(_api_request(), username="alice", password="wrong") is None
    assert get_guard().check(account="alice", ip=B).action is loginguard.Action.CHALLENGE
    assert auth.authenticate(_api_request(), username="alice", password="alice-pw") is None
    req = _api_request(**{"loginguard-captcha": "solved"})  # a form that carries the CAPTCHA
    user = auth.authenticate(req, username="alice", password="alice-pw")
    assert user is not None
    assert user.backend == "loginguard.django.backends.LoginGuardBackend"
    assert get_guard().check(account="alice", ip=B).action is loginguard.Action.ALLOW
    auth.login(req, user)
    assert auth.get_user(req).get_username() == "alice"  # the session's backend finds the user


def test_without_the_backend_logins_elsewhere_are_counted_through_djangos_signals(
    settings: Any,
) -> None:
    from django.contrib import auth

    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    for _ in range(4):
        assert auth.authenticate(_api_request(), username="alice", password="wrong") is None
    assert get_guard().check(account="alice", ip=B).action is loginguard.Action.CHALLENGE
    req = _api_request()
    user = auth.authenticate(req, username="alice", password="alice-pw")
    assert user is not None
    auth.login(req, user)
    assert get_guard().check(account="alice", ip=B).action is loginguard.Action.ALLOW


def test_denylist_answers_403(settings: Any) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": 'deny_cidrs = ["203.0.113.0/24"]'}
    r = login(Client(), "alice", "alice-pw")
    assert r.status_code == 403
    assert "Retry-After" not in r
    assert "from your network are blocked" in r.text


def test_system_checks(settings: Any) -> None:
    from django.core import checks

    assert [m.id for m in checks.run_checks() if m.id.startswith("loginguard")] == []
    settings.LOGINGUARD = {"MANUAL_CLOCK": True}
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "loginguard" not in m]
    ids = sorted(m.id for m in checks.run_checks() if m.id.startswith("loginguard"))
    assert ids == ["loginguard.W001", "loginguard.W003"]

    backend = "loginguard.django.backends.LoginGuardBackend"
    model_backend = "django.contrib.auth.backends.ModelBackend"
    for backends, says in [
        ([model_backend], "is not in"),
        ([model_backend, backend], "is not first"),
        ([backend], "is alone"),
    ]:
        settings.AUTHENTICATION_BACKENDS = backends
        found = [m.msg for m in checks.run_checks() if m.id == "loginguard.W002"]
        assert len(found) == 1 and says in found[0]


def test_middleware_needs_the_app(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from loginguard.django.middleware import LoginGuardMiddleware

    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "loginguard.django"]
    with pytest.raises(ImproperlyConfigured):
        LoginGuardMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]


def test_management_command_in_another_process_with_the_shared_store(
    settings: Any, tmp_path: Path
) -> None:
    policy_file = tmp_path / "loginguard.toml"
    policy_file.write_text(
        f'[store]\nkind = "shared"\npath = "{tmp_path / "counters.lgs"}"\ncapacity = 4096\n'
    )
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY_FILE": str(policy_file)}
    for _ in range(11):
        login(Client(), "alice", "wrong", captcha="solved")
    assert login(Client(), "alice", "alice-pw", captcha="solved").status_code == 429

    def manage(*args: str) -> str:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "django_project.settings",
            "PYTHONPATH": str(Path(__file__).resolve().parent),
            "LOGINGUARD_POLICY_FILE": str(policy_file),
        }
        done = subprocess.run(
            [sys.executable, "-m", "django", "loginguard", *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return done.stdout

    out = manage("inspect", "--account", "alice", "--ip", A)
    assert "decision: deny account_ip retry=60000 failures=11" in out
    assert "unlocked account 'alice'" in manage("unlock", "--account", "alice")
    assert login(Client(), "alice", "alice-pw").status_code == 302
