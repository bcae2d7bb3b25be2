"""What support staff do with loginguard: look up an account and/or a network and unlock them.
Shared by ``manage.py loginguard inspect|unlock`` and the admin's "Login protection" page, so
both key the account as a login does and say the same thing."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.exceptions import ValidationError

import loginguard
from loginguard import Action, Inspection
from loginguard.django import conf, flow

#: Why a dimension or the decision refuses, in words for support staff.
WHY: dict[str, str] = {
    "account": "too many failed logins on this account, from anywhere",
    "account_ip": "too many failed logins on this account from this network",
    "ip": "too many failed logins from this network, on any accounts",
    "ip_range": "too many failed logins from this network's wider range",
    "device": "too many failed logins on this account from its trusted device",
    "site": "the whole site is under attack: everyone gets a CAPTCHA",
    "denylist": "this network is on the deny list (deny_cidrs in the policy)",
}

#: What the user sees for each action.
MEANS: dict[Action, str] = {
    Action.ALLOW: "logs in as usual",
    Action.CHALLENGE: "must solve a CAPTCHA before the password is checked",
    Action.DENY: "is refused until the lock ends",
    Action.RESET_REQUIRED: "is refused until the password is reset (or the account unlocked)",
}


def wait_text(ms: int) -> str:
    """A duration for people: "45 seconds", "14 minutes", "3 hours", "2 days"."""
    seconds = math.ceil(ms / 1000)
    if seconds < 120:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} minutes"
    hours = math.ceil(minutes / 60)
    if hours < 48:
        return f"{hours} hours"
    return f"{math.ceil(hours / 24)} days"


class SupportError(ValueError):
    """An account or an address that loginguard cannot look up (``field`` names which)."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


def key_account(account: str | None) -> str | None:
    """The account as a login keys it (the login form's cleaning, then ``normalize_username``),
    so support finds the counter that a user typing the same name fills."""
    if not account:
        return None
    try:
        return flow.account_key(account)
    except (ValidationError, flow.UnkeyableAccount) as e:
        raise SupportError(f"this username cannot be an account: {e}", "account") from e


def _error(e: loginguard.LoginGuardError) -> SupportError:
    field = "ip" if isinstance(e, loginguard.InvalidIpError) else "account"
    return SupportError(f"{e.kind}: {e}", field)


@dataclass(frozen=True)
class Lookup:
    """What ``inspect`` says about an account and/or a network, with the guard's clock."""

    account: str | None
    ip: str | None
    inspection: Inspection
    now_ms: int

    def why(self) -> str:
        d = self.inspection.decision
        if d.reason is None:
            return "no counter is over a threshold"
        return WHY.get(str(d.reason), str(d.reason))

    def lines(self) -> list[str]:
        """The lines ``manage.py loginguard inspect`` prints."""
        out = [f"decision: {self.inspection.decision}"]
        if self.inspection.denylisted:
            out.append("network: on the deny list")
        for s in self.inspection.dimensions:
            lock = f" locked_until_ms={s.locked_until_ms}" if s.locked_until_ms is not None else ""
            reset = " reset_required" if s.reset_required else ""
            out.append(
                f"{s.dimension}: {s.action.value} failures={s.failures} "
                f"consecutive={s.consecutive}{lock}{reset}"
            )
        site = self.inspection.site
        if site is not None:
            state = f"attack since_ms={site.since_ms}" if site.active else "calm"
            out.append(
                f"site: {state} failures={site.rate} in {site.per_ms // 1000}s "
                f"(trigger {site.trigger})"
            )
        return out


def lookup(account: str | None, ip: str | None) -> Lookup:
    """``inspect`` for the account (keyed as a login keys it) and/or the network of ``ip``."""
    if not account and not ip:
        raise SupportError("give an account, an IP address or both", None)
    key = key_account(account)
    guard = conf.get_guard()
    try:
        found = guard.inspect(account=key, ip=ip or None)
    except loginguard.LoginGuardError as e:
        raise _error(e) from e
    return Lookup(key, ip or None, found, guard.now_ms)


def unlock(account: str | None, ip: str | None) -> list[str]:
    """``reset_account`` and/or ``reset_ip``; returns what was unlocked, one line each (the
    address is checked before anything is reset, so a bad one unlocks nothing)."""
    if not account and not ip:
        raise SupportError("give an account, an IP address or both", None)
    key = key_account(account)
    guard = conf.get_guard()
    done: list[str] = []
    try:
        if ip:
            guard.inspect(ip=ip)  # raises InvalidIpError before anything is reset
        if key:
            guard.reset_account(key)
            done.append(f"unlocked account {key!r}")
        if ip:
            guard.reset_ip(ip)
            done.append(f"unlocked network of {ip}")
    except loginguard.LoginGuardError as e:
        raise _error(e) from e
    return done


__all__ = ["MEANS", "WHY", "Lookup", "SupportError", "key_account", "lookup", "unlock", "wait_text"]
