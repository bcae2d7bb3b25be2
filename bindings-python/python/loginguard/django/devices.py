"""Device cookies (OWASP): signed with ``django.core.signing``, bound to one account, and
ignored on any other."""

from __future__ import annotations

import secrets

from django.core import signing
from django.http import HttpRequest, HttpResponse

from loginguard.django.conf import options

SALT = "loginguard.device"


def cookie_name() -> str:
    return str(options().get("DEVICE_COOKIE_NAME", "loginguard_device"))


def max_age() -> int:
    return int(options().get("DEVICE_COOKIE_MAX_AGE", 365 * 24 * 3600))


def _read(request: HttpRequest) -> tuple[str, str] | None:
    value = request.COOKIES.get(cookie_name())
    if not value:
        return None
    try:
        data = signing.loads(value, salt=SALT, max_age=max_age())
    except signing.BadSignature:  # tampered or expired
        return None
    if not isinstance(data, dict):
        return None
    account, device = data.get("a"), data.get("d")
    if not isinstance(account, str) or not isinstance(device, str):
        return None
    return account, device


def device_for(request: HttpRequest, account: str) -> str | None:
    """The trusted device id when the request carries a valid cookie issued to ``account``."""
    found = _read(request)
    if found is None or not account or found[0] != account:
        return None
    return found[1]


def issue(request: HttpRequest, response: HttpResponse, account: str) -> None:
    """Trusts this browser for ``account`` (keeps the id of a cookie already issued to it)."""
    device = device_for(request, account) or secrets.token_urlsafe(16)
    from django.conf import settings

    response.set_cookie(
        cookie_name(),
        signing.dumps({"a": account, "d": device}, salt=SALT),
        max_age=max_age(),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
