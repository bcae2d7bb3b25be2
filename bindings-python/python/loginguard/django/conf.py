"""``settings.LOGINGUARD``: the process-wide guard, the CAPTCHA verifier and the client IP.

Keys (all optional)::

    LOGINGUARD = {
        "POLICY": "[account]\\nchallenge_after = 3",   # TOML text, or
        "POLICY_FILE": BASE_DIR / "loginguard.toml",     # a TOML file
        "MANUAL_CLOCK": False,            # tests: move time with get_guard().advance_ms()
        "USERNAME_FIELD": "username",     # the login form's account field
        "ACCOUNT_CREDENTIALS": [],        # more authenticate() kwargs that name the account
        "TRUSTED_PROXIES": [],            # CIDRs of your reverse proxies; none: REMOTE_ADDR only;
                                          # "unix": an empty REMOTE_ADDR (a unix socket) is one
        "CAPTCHA": {"BACKEND": "loginguard.django.captcha.Turnstile",
                    "SITE_KEY": "...", "SECRET": "...", "TIMEOUT": 5.0},
        "PASSWORD_RESET_URL": "password_reset",   # URL name or path for reset_required
        "DEVICE_COOKIE_NAME": "loginguard_device",
        "DEVICE_COOKIE_MAX_AGE": 31536000,         # seconds
    }
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.module_loading import import_string

import loginguard
from loginguard.django.captcha import CaptchaVerifier

logger = logging.getLogger("loginguard.django")

_lock = threading.Lock()
_guard: loginguard.Guard | None = None
#: Whether this process (since the settings last changed) logged a client IP it could not find.
_warned_ip = False


def options() -> dict[str, Any]:
    value = getattr(settings, "LOGINGUARD", {})
    if not isinstance(value, dict):
        raise ImproperlyConfigured("settings.LOGINGUARD must be a dict")
    return value


def get_guard() -> loginguard.Guard:
    """The process-wide guard, built from ``settings.LOGINGUARD`` on first use."""
    global _guard
    guard = _guard
    if guard is not None:
        return guard
    with _lock:
        if _guard is None:
            _guard = _build_guard(options())
        return _guard


def _build_guard(opts: dict[str, Any]) -> loginguard.Guard:
    manual = bool(opts.get("MANUAL_CLOCK", False))
    if opts.get("POLICY_FILE") is not None:
        guard = loginguard.Guard.from_policy_file(opts["POLICY_FILE"], manual_clock=manual)
    else:
        guard = loginguard.Guard(opts.get("POLICY"), manual_clock=manual)
    from loginguard.django.signals import send_event

    guard.on_event(send_event)
    return guard


def reset() -> None:
    """Drops the guard and the cached settings (on ``setting_changed``)."""
    global _guard, _warned_ip
    with _lock:
        _guard = None
        _warned_ip = False
    trusted_proxies.cache_clear()
    account_credentials.cache_clear()
    get_verifier.cache_clear()


@lru_cache(maxsize=1)
def get_verifier() -> CaptchaVerifier | None:
    """The configured CAPTCHA verifier; ``None`` when none is: a challenge then cannot be passed."""
    conf = options().get("CAPTCHA")
    if not conf:
        return None
    backend = conf.get("BACKEND")
    if not backend:
        raise ImproperlyConfigured("LOGINGUARD['CAPTCHA'] needs a BACKEND")
    cls = import_string(backend) if isinstance(backend, str) else backend
    kwargs = {k.lower(): v for k, v in conf.items() if k != "BACKEND"}
    verifier: CaptchaVerifier = cls(**kwargs)
    return verifier


#: The ``TRUSTED_PROXIES`` entry that trusts an empty ``REMOTE_ADDR``: a proxy that reaches the
#: application server over a unix socket (nginx in front of gunicorn's ``unix:`` bind).
UNIX = "unix"


@lru_cache(maxsize=1)
def trusted_proxies() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network | str, ...]:
    """``TRUSTED_PROXIES``: networks, and ``"unix"``."""
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network | str] = []
    for entry in options().get("TRUSTED_PROXIES", ()):
        if entry == UNIX:
            found.append(UNIX)
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                "LOGINGUARD['TRUSTED_PROXIES'] takes networks (CIDRs or addresses) and "
                f"'unix' (an empty REMOTE_ADDR), not {entry!r}"
            ) from None
    return tuple(found)


def _address(hop: str) -> str:
    """A forwarded address without the port a proxy may have added: ``203.0.113.5:51234``,
    ``[2001:db8::1]:443`` and ``[2001:db8::1]`` give the address; anything else is as given."""
    if hop.startswith("["):
        end = hop.find("]")
        if end > 0 and (end + 1 == len(hop) or hop[end + 1] == ":"):
            return hop[1:end]
        return hop
    host, colon, port = hop.partition(":")
    if colon and port.isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return hop
        return host
    return hop


def _trusted(ip: str, proxies: tuple[Any, ...]) -> bool:
    if ip == "":
        return UNIX in proxies
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(not isinstance(net, str) and addr in net for net in proxies)


def client_ip(request: HttpRequest) -> str:
    """``REMOTE_ADDR``; behind configured trusted proxies, the right-most ``X-Forwarded-For``
    hop that is not one of them (without a port). With no trusted proxies the header is
    ignored: it is the client's to forge. ``""`` or a value that is no address leaves the
    attempt without a network (logged once: here when empty, by the flow when the guard
    refuses the value as an address)."""
    ip = _client_ip(request)
    if not ip:
        warn_no_ip(ip)
    return ip


def _client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = trusted_proxies()
    if not proxies or not _trusted(remote, proxies):
        return remote
    hops = [_address(h.strip()) for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else remote


def warn_no_ip(ip: str) -> None:
    """Logs, once per process, that attempts go without a network (``ip`` was no address)."""
    global _warned_ip
    if _warned_ip:
        return
    _warned_ip = True
    logger.warning(
        "loginguard cannot determine the client IP (got %r from REMOTE_ADDR/X-Forwarded-For): "
        "logins are counted on their account alone, not on their network. Behind a proxy on "
        "a unix socket add 'unix' to LOGINGUARD['TRUSTED_PROXIES']; behind others, their "
        "networks. (Logged once per process.)",
        ip,
    )


BACKEND = "loginguard.django.backends.LoginGuardBackend"


def backend_installed() -> bool:
    """Whether ``LoginGuardBackend`` guards ``authenticate()`` (it counts every attempt)."""
    return BACKEND in settings.AUTHENTICATION_BACKENDS


def username_field() -> str:
    return str(options().get("USERNAME_FIELD", "username"))


@lru_cache(maxsize=1)
def account_credentials() -> tuple[str, ...]:
    """``LOGINGUARD["ACCOUNT_CREDENTIALS"]``: the ``authenticate()`` keyword arguments, beyond
    the built-in ones, that name the account (checked after them, in this order)."""
    value = options().get("ACCOUNT_CREDENTIALS", ())
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(name, str) and name.isidentifier() for name in value
    ):
        raise ImproperlyConfigured(
            "LOGINGUARD['ACCOUNT_CREDENTIALS'] must be a list of authenticate() keyword "
            f"argument names (e.g. ['customer_number']), not {value!r}"
        )
    return tuple(value)
