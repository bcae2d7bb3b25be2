"""Enums and exception classes that the native module hands out."""

from __future__ import annotations

import enum
from typing import Any


class Action(str, enum.Enum):
    """What the application does with an attempt, least severe first."""

    ALLOW = "allow"
    CHALLENGE = "challenge"
    DENY = "deny"
    RESET_REQUIRED = "reset_required"

    def __str__(self) -> str:
        return self.value


class Reason(str, enum.Enum):
    """Which counter (or list) decided."""

    ACCOUNT = "account"
    ACCOUNT_IP = "account_ip"
    IP = "ip"
    IP_RANGE = "ip_range"
    """The wider network's counter (IPv4 /24, IPv6 /48 by default)."""
    DEVICE = "device"
    SITE = "site"
    """The site-wide failure rate: an attack is on, every attempt not on a trusted device is
    challenged."""
    DENYLIST = "denylist"

    def __str__(self) -> str:
        return self.value


class LoginGuardError(Exception):
    """Every loginguard error; `kind` is the core's stable error kind."""

    kind: str = "loginguard"


class InvalidAttemptError(LoginGuardError, ValueError):
    """No account and no ip, a device without an account, or a value over its size limit."""

    kind = "invalid_attempt"


class InvalidIpError(LoginGuardError, ValueError):
    """The ip is neither IPv4/IPv6 text nor 4 or 16 raw bytes."""

    kind = "invalid_ip"


class InvalidUtf8Error(LoginGuardError, ValueError):
    """Text that cannot be UTF-8 (a `str` with lone surrogates)."""

    kind = "invalid_utf8"


class PolicyError(LoginGuardError, ValueError):
    """A bad, unknown or out-of-range policy field; `field` names it (e.g. `account.lock_for`)."""

    kind = "policy"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle (multiprocessing, concurrent.futures) rebuilds it with both arguments,
        # then restores the attributes (kind, field and any others).
        message = self.args[0] if self.args else ""
        return (type(self), (message, self.field), self.__dict__)


class StoreError(LoginGuardError):
    """The store could not be opened or used."""

    kind = "store"
