"""System checks (``manage.py check``) for a configuration that cannot work as intended."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

from loginguard.django.conf import BACKEND

MIDDLEWARE = "loginguard.django.middleware.LoginGuardMiddleware"


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if BACKEND not in backends:
        found.append(
            Warning(
                f"{BACKEND} is not in AUTHENTICATION_BACKENDS: authenticate() calls outside "
                "the login views (the admin's, APIs, other apps) are not guarded.",
                hint=f"Put {BACKEND!r} first in AUTHENTICATION_BACKENDS.",
                id="loginguard.W002",
            )
        )
    elif backends[0] != BACKEND:
        found.append(
            Warning(
                f"{BACKEND} is not first in AUTHENTICATION_BACKENDS: {backends[0]} checks "
                "passwords before the guard does.",
                hint=f"Put {BACKEND!r} first in AUTHENTICATION_BACKENDS.",
                id="loginguard.W002",
            )
        )
    elif len(backends) == 1:
        found.append(
            Warning(
                f"{BACKEND} is alone in AUTHENTICATION_BACKENDS: it checks passwords with the "
                "backends listed after it, so nobody can log in.",
                hint="List your backends (django.contrib.auth.backends.ModelBackend) after it.",
                id="loginguard.W002",
            )
        )
    if MIDDLEWARE not in settings.MIDDLEWARE:
        found.append(
            Warning(
                f"{MIDDLEWARE} is not in MIDDLEWARE: login views get no CAPTCHA step, 429 or "
                "password-reset redirect (the backend only refuses).",
                hint="Add it after django.contrib.auth.middleware.AuthenticationMiddleware, or "
                "decorate your login views with loginguard.django.protect.",
                id="loginguard.W003",
            )
        )
    if not getattr(settings, "LOGINGUARD", {}).get("CAPTCHA"):
        found.append(
            Warning(
                "LOGINGUARD['CAPTCHA'] is not configured: a 'challenge' cannot be passed, "
                "so an account over challenge_after cannot log in until its counter is forgotten.",
                hint="Configure a verifier, e.g. loginguard.django.captcha.Turnstile.",
                id="loginguard.W001",
            )
        )
    return found
