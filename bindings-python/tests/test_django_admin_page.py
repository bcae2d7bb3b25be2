"""The admin's "Login protection" page: who may look up and unlock, what a lookup shows for a
locked account, the unlock button (CSRF-protected, written to the admin log), form errors."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from loginguard import Action
from loginguard.django import get_guard

pytestmark = pytest.mark.django_db

PAGE = "/admin/loginguard/loginprotection/"
A = "203.0.113.7"


def staff(username: str, *perms: str, superuser: bool = False) -> Client:
    if superuser:
        user = User.objects.create_superuser(username, f"{username}@example.com", "pw")
    else:
        user = User.objects.create_user(username, password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="loginguard", codename=codename)
        )
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def support() -> Client:
    return staff("support", "view_loginprotection", "unlock_loginprotection")


def lock_alice() -> None:
    """Eleven wrong passwords on (alice, A): a 1-minute lock of account_ip, the account over
    challenge_after."""
    for _ in range(11):
        get_guard().record_failure(account="alice", ip=A)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_only_staff_with_the_permission_see_the_page() -> None:
    anonymous = Client().get(PAGE)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    user = User.objects.create_user("user", password="pw")  # not staff
    c = Client()
    c.force_login(user)
    assert c.get(PAGE).status_code == 302  # the admin sends non-staff to its login

    assert staff("plainstaff").get(PAGE).status_code == 403
    assert staff("plainstaff2").get(PAGE, {"account": "alice"}).status_code == 403
    assert staff("viewer", "view_loginprotection").get(PAGE).status_code == 200
    assert staff("root", superuser=True).get(PAGE).status_code == 200


def test_the_admin_index_lists_the_page_for_those_who_may_see_it() -> None:
    assert PAGE in staff("viewer", "view_loginprotection").get("/admin/").text
    assert PAGE not in staff("plainstaff").get("/admin/").text


def test_lookup_shows_each_counter_and_the_decision_of_a_locked_account(support: Client) -> None:
    lock_alice()
    get_guard().advance_ms(15_000)
    r = support.get(PAGE, {"account": "Alice ", "ip": A})  # keyed as a login keys it
    assert r.status_code == 200
    page = text(r.text)
    assert "Decision: deny" in page
    assert "too many failed logins on this account from this network" in page
    assert "reason account_ip" in page and "11 failures" in page
    assert "Retry after: 45 seconds." in page
    rows = {s.dimension: s for s in r.context["found"].inspection.dimensions}
    assert rows["account_ip"].locked_until_ms == 60_000
    # The lock's end as a time in the site's time zone (the manual clock starts at the epoch)
    # and what is left of it.
    assert "account_ip 11 11 1969-12-31 18:01:00 CST (in 45 seconds) no deny" in page
    assert "account 11 11 not locked no challenge" in page
    assert " ip 11 11 not locked no allow" in page
    assert 'id="loginguard-unlock"' in r.text


def test_lookup_of_an_account_that_must_reset_its_password(support: Client) -> None:
    for i in range(101):
        get_guard().record_failure(account="bob", ip=f"198.51.100.{i % 200}")
        get_guard().advance_ms(2 * 3600 * 1000)
    page = text(support.get(PAGE, {"account": "bob"}).text)
    assert "Decision: reset_required" in page
    assert "refused until the password is reset" in page
    assert re.search(r"account \d+ 101 not locked yes reset_required", page)


def test_unlock_clears_the_counters_and_writes_the_admin_log(support: Client) -> None:
    lock_alice()
    r = support.post(PAGE, {"account": "alice", "ip": A})
    assert r.status_code == 302
    assert r["Location"] == f"{PAGE}?account=alice&ip={A}"
    assert get_guard().check(account="alice", ip=A).action is Action.ALLOW
    assert get_guard().inspect(ip=A).dimensions[0].failures == 0

    entry = LogEntry.objects.get()
    assert entry.user.username == "support"
    assert entry.action_flag == CHANGE
    assert entry.content_type.app_label == "loginguard"
    assert entry.object_repr == f"account 'alice' and network of {A}"
    assert entry.get_change_message() == f"Unlocked account 'alice'; unlocked network of {A}"

    after = support.get(r["Location"])  # the page after the redirect
    assert "Decision: allow" in text(after.text)
    assert f"Unlocked account &#x27;alice&#x27;; unlocked network of {A}." in after.text
    # The admin's "Recent actions" show who unlocked what.
    assert "account &#x27;alice&#x27; and network of" in support.get("/admin/").text


def test_unlocking_needs_its_own_permission() -> None:
    lock_alice()
    viewer = staff("viewer", "view_loginprotection")
    assert 'id="loginguard-unlock"' not in viewer.get(PAGE, {"account": "alice"}).text
    assert viewer.post(PAGE, {"account": "alice"}).status_code == 403
    unlocker = staff("unlocker", "unlock_loginprotection")  # may unlock, but not look up
    assert unlocker.post(PAGE, {"account": "alice"}).status_code == 403
    assert get_guard().check(account="alice", ip=A).action is Action.DENY
    assert not LogEntry.objects.exists()


def test_unlock_needs_the_csrf_token() -> None:
    lock_alice()
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    c = Client(enforce_csrf_checks=True)
    c.force_login(user)
    assert c.post(PAGE, {"account": "alice"}).status_code == 403
    assert get_guard().check(account="alice", ip=A).action is Action.DENY

    page = c.get(PAGE, {"account": "alice"})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    r = c.post(PAGE, {"account": "alice", "csrfmiddlewaretoken": token.group(1)})
    assert r.status_code == 302
    assert get_guard().check(account="alice").action is Action.ALLOW


@pytest.mark.parametrize("ip", ["999.1.1.1", "not-an-ip", "203.0.113.7/24"])
def test_a_bad_ip_is_a_form_error(support: Client, ip: str) -> None:
    lock_alice()
    r = support.get(PAGE, {"account": "alice", "ip": ip})
    assert r.status_code == 200
    assert r.context["form"].errors["ip"]
    assert r.context["found"] is None
    r = support.post(PAGE, {"account": "alice", "ip": ip})
    assert r.status_code == 200 and r.context["form"].errors["ip"]
    # Nothing was unlocked, nothing logged.
    assert get_guard().check(account="alice", ip=A).action is Action.DENY
    assert not LogEntry.objects.exists()


def test_an_empty_lookup_and_an_unkeyable_account_are_form_errors(support: Client) -> None:
    r = support.get(PAGE, {"account": "", "ip": ""})
    assert r.status_code == 200 and r.context["form"].non_field_errors()
    r = support.get(PAGE, {"account": "x" * 1025})
    assert r.status_code == 200 and r.context["form"].errors["account"]


def test_the_page_and_the_management_command_agree(
    support: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    lock_alice()
    call_command("loginguard", "inspect", "--account", " alice", "--ip", A)
    out = capsys.readouterr().out
    assert "decision: deny account_ip retry=60000 failures=11" in out
    assert "account_ip: deny failures=11 consecutive=11 locked_until_ms=60000" in out
    found = support.get(PAGE, {"account": " alice", "ip": A}).context["found"]
    assert found.lines() == out.splitlines()

    call_command("loginguard", "unlock", "--account", "alice")
    assert "unlocked account 'alice'" in capsys.readouterr().out
    assert "Decision: allow" in text(support.get(PAGE, {"account": "alice"}).text)


def test_lookups_change_no_counter_or_statistic(support: Client) -> None:
    lock_alice()
    stats = get_guard().stats()
    before = (stats.allow, stats.challenge, stats.deny, stats.reset_required)
    support.get(PAGE, {"account": "alice", "ip": A})
    stats = get_guard().stats()
    assert (stats.allow, stats.challenge, stats.deny, stats.reset_required) == before
    assert get_guard().inspect(account="alice", ip=A).decision.failures == 11
