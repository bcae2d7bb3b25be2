"""Django integration: add ``"loginguard.django"`` to ``INSTALLED_APPS`` and
``"loginguard.django.middleware.LoginGuardMiddleware"`` to ``MIDDLEWARE``; settings live in
``settings.LOGINGUARD`` (see :mod:`loginguard.django.conf`).
"""

from __future__ import annotations

from loginguard.django.conf import client_ip, get_guard, get_verifier
from loginguard.django.signals import guard_event

__all__ = ["client_ip", "get_guard", "get_verifier", "guard_event"]
