"""System checks (``manage.py check``) for a configuration that cannot work as intended."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

MIDDLEWARE = "loginguard.django.middleware.LoginGuardMiddleware"


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    if MIDDLEWARE not in settings.MIDDLEWARE:
        found.append(
            Error(
                f"{MIDDLEWARE} is not in MIDDLEWARE: login views are not protected.",
                hint="Add it after django.contrib.auth.middleware.AuthenticationMiddleware.",
                id="loginguard.E001",
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
