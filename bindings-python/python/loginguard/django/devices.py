"""Device cookies (OWASP): signed with ``django.core.signing``, bound to one account and to
that user's password hash (as Django's ``PasswordResetTokenGenerator`` binds its tokens), so
they are ignored on any other account and revoked by a password reset or change."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare, salted_hmac

from loginguard.django.conf import options

SALT = "loginguard.device"


def cookie_name() -> str:
    return str(options().get("DEVICE_COOKIE_NAME", "loginguard_device"))


def max_age() -> int:
    return int(options().get("DEVICE_COOKIE_MAX_AGE", 365 * 24 * 3600))


def _password_tag(user: Any) -> str:
    """Changes whenever the user's password does; reveals nothing of the hash."""
    return salted_hmac(SALT, f"{user.pk}:{user.password}", algorithm="sha256").hexdigest()[:32]


def _read(request: HttpRequest) -> tuple[str, str, str] | None:
    value = request.COOKIES.get(cookie_name())
    if not value:
        return None
    try:
        data = signing.loads(value, salt=SALT, max_age=max_age())
    except signing.BadSignature:  # tampered or expired
        return None
    if not isinstance(data, dict):
        return None
    account, device, tag = data.get("a"), data.get("d"), data.get("p")
    if not isinstance(account, str) or not isinstance(device, str) or not isinstance(tag, str):
        return None  # a cookie issued before cookies were bound to the password
    return account, device, tag


def _user(account: str) -> Any:
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(account)
    except (model.DoesNotExist, ValueError, TypeError):
        return None


def device_for(request: HttpRequest, account: str) -> str | None:
    """The trusted device id when the request carries a valid cookie issued to ``account``
    under its current password."""
    found = _read(request)
    if found is None or not account or found[0] != account:
        return None
    user = _user(account)  # only for a cookie that names this account: no lookup otherwise
    if user is None or not constant_time_compare(found[2], _password_tag(user)):
        return None
    return found[1]


def issue(request: HttpRequest, response: HttpResponse, account: str, user: Any) -> None:
    """Trusts this browser for ``account`` (keeps the id of a cookie already issued to it)."""
    device = device_for(request, account) or secrets.token_urlsafe(16)
    from django.conf import settings

    response.set_cookie(
        cookie_name(),
        signing.dumps({"a": account, "d": device, "p": _password_tag(user)}, salt=SALT),
        max_age=max_age(),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
