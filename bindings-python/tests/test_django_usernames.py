"""The account is keyed as Django will authenticate it: the login form's username cleaning
(``str.strip()``, then NFKC) and the user model's ``normalize_username``. Variants of one name
share its counters, and a name that cannot be keyed is refused, never counted on the network
alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from loginguard import Action
from loginguard.django import conf, get_guard

pytestmark = pytest.mark.django_db

A = "203.0.113.7"
CHALLENGE = 'id="loginguard-challenge"'
# Python's str.strip() removes these (Django's form does), Unicode's White_Space does not.
SEPARATORS = ["alice\x1c", "alice\x1d", "alice\x1e", "alice\x1f"]


@pytest.fixture(autouse=True)
def users(db: Any) -> None:
    User.objects.create_user("alice", "alice@example.com", "alice-pw")


def ip_failures() -> int:
    ip, ip_range = get_guard().inspect(ip=A).dimensions
    assert ip_range.failures == ip.failures  # the only network of its range here
    return ip.failures


def login(c: Client, username: str, password: str, **data: str) -> Any:
    return c.post(
        "/accounts/login/", {"username": username, "password": password, **data}, REMOTE_ADDR=A
    )


def logged_in(c: Client) -> bool:
    return "_auth_user_id" in c.session


@pytest.mark.parametrize("normalize", ["exact", "fold"])
def test_separator_variants_count_on_the_account_they_log_in_as(
    normalize: str, settings: Any
) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": f'account_normalize = "{normalize}"'}
    for name in SEPARATORS:
        r = login(Client(), name, "wrong")
        assert r.status_code == 200 and not logged_in(Client())
    assert get_guard().check(account="alice").failures == 4
    c = Client()
    r = login(c, "alice\x1c", "alice-pw")
    assert CHALLENGE in r.text
    assert not logged_in(c)
    r = login(c, "alice\x1c", "alice-pw", **{"loginguard-captcha": "solved"})
    assert r.status_code == 302 and logged_in(c)


def test_a_name_padded_past_the_account_limit_counts_on_the_account() -> None:
    padded = "alice" + " " * 1100  # over 1024 bytes as typed, "alice" once the form strips it
    for _ in range(4):
        login(Client(), padded, "wrong")
    assert get_guard().check(account="alice").failures == 4
    c = Client()
    r = login(c, padded, "alice-pw")
    assert CHALLENGE in r.text
    assert not logged_in(c)


@pytest.mark.parametrize("normalize", ["exact", "fold"])
def test_whitespace_and_full_width_variants_share_one_counter(
    normalize: str, settings: Any
) -> None:
    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": f'account_normalize = "{normalize}"'}
    full_width = "\uff41\uff4c\uff49\uff43\uff45"
    for name in ["alice ", " alice", "\u00a0alice\u3000", full_width]:
        login(Client(), name, "wrong")
    c = Client()
    r = login(c, "alice", "alice-pw")
    assert CHALLENGE in r.text
    assert not logged_in(c)
    assert get_guard().check(account="alice").failures == 4


@pytest.mark.parametrize(
    "name",
    [
        "a" * 1100,  # the form passes it on; the core keys at most 1024 bytes
        "\ufeff",  # Python's strip keeps it; the core's fold leaves nothing
    ],
    ids=["over-long", "nothing-once-folded"],
)
def test_an_account_that_cannot_be_keyed_is_refused_and_nothing_is_counted(name: str) -> None:
    c = Client()
    r = login(c, name, "wrong")
    assert r.status_code == 400
    assert not logged_in(c)
    assert ip_failures() == 0


def test_a_plain_view_counts_variants_on_the_account() -> None:
    for name in SEPARATORS:
        r = Client().post("/plain-login/", {"username": name, "password": "x"}, REMOTE_ADDR=A)
        assert r.status_code == 401
    c = Client()
    r = c.post("/plain-login/", {"username": "alice", "password": "alice-pw"}, REMOTE_ADDR=A)
    assert r.status_code == 401
    assert not logged_in(c)
    assert get_guard().check(account="alice", ip=A).action is Action.CHALLENGE


def test_an_over_long_account_is_refused_by_authenticate() -> None:
    from django.contrib.auth import authenticate

    assert authenticate(username="a" * 1100, password="x") is None
    assert authenticate(username=["alice"], password="alice-pw") is None  # type: ignore[arg-type]


def test_a_username_the_form_rejects_is_left_to_the_form() -> None:
    for name in ["", "   "]:
        r = login(Client(), name, "x")
        assert r.status_code == 200 and "This field is required" in r.text
    assert ip_failures() == 0


@pytest.mark.parametrize("name", ["Alice", " ALICE ", "\uff21lice"])
def test_a_form_that_lowercases_the_name_begins_once(name: str) -> None:
    """The form's ``clean_username`` lowercases: the backend's ``authenticate(username="alice")``
    is the middleware's attempt on ``Alice`` under the guard's folding, not a second one."""
    begins = []
    guard = get_guard()

    class Counting:
        def __getattr__(self, attr: str) -> Any:
            if attr == "begin":
                return lambda **kw: begins.append(kw) or guard.begin(**kw)
            return getattr(guard, attr)

    conf._guard = Counting()  # type: ignore[assignment]
    r = Client().post("/lowercase-login/", {"username": name, "password": "wrong"}, REMOTE_ADDR=A)
    assert r.status_code == 200 and len(begins) == 1
    assert ip_failures() == 1
    c = Client()
    r = c.post("/lowercase-login/", {"username": name, "password": "alice-pw"}, REMOTE_ADDR=A)
    assert r.status_code == 302 and logged_in(c) and len(begins) == 2
    assert ip_failures() == 1
    assert guard.check(account="alice").failures == 0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice", "alice"),
        ("ALICE\u3000", "alice"),
        ("\ufeffAlice", "alice"),
        ("\uff21lice", "alice"),
        ("ΟΔΟΣ", "οδοσ"),
        ("ΟΔΟΣ", "οδος"),
        ("İstanbul", "i\u0307stanbul"),
        ("STRASSE", "straße"),
        ("alice", "alice2"),
    ],
)
@pytest.mark.parametrize("normalize", ["fold", "exact"])
def test_same_account_is_the_guards_keying(a: str, b: str, normalize: str, settings: Any) -> None:
    from loginguard.django.flow import same_account

    settings.LOGINGUARD = {**settings.LOGINGUARD, "POLICY": f'account_normalize = "{normalize}"'}
    get_guard().record_failure(account=a)
    assert same_account(a, b) is (get_guard().check(account=b).failures == 1)
