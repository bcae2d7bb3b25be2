"""Django integration: add ``"loginguard.django"`` to ``INSTALLED_APPS``,
``"loginguard.django.backends.LoginGuardBackend"`` first in ``AUTHENTICATION_BACKENDS`` and
``"loginguard.django.middleware.LoginGuardMiddleware"`` to ``MIDDLEWARE`` (or ``@protect`` on
login views); settings live in ``settings.LOGINGUARD`` (see :mod:`loginguard.django.conf`).
"""

from __future__ import annotations

from loginguard.django.conf import client_ip, get_guard, get_verifier
from loginguard.django.decorators import protect
from loginguard.django.signals import guard_event

__all__ = ["client_ip", "get_guard", "get_verifier", "guard_event", "protect"]
