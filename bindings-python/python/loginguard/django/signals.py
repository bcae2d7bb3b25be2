"""``guard_event`` (loginguard's events as a Django signal) and the receivers of Django's own
login signals."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.dispatch import Signal
from django.http import HttpRequest

import loginguard
from loginguard.django import conf, flow

#: Sent for every loginguard event (challenge, lock, reset_required, reset_account, reset_ip)
#: with ``sender=loginguard.Guard`` and ``event=`` a :class:`loginguard.Event`. An exception
#: from a receiver goes to ``sys.unraisablehook`` and never changes a decision.
guard_event = Signal()


def send_event(event: loginguard.Event) -> None:
    guard_event.send(sender=loginguard.Guard, event=event)


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None:
        return
    state = getattr(request, "loginguard", None)
    if isinstance(state, flow.LoginState) and state.allowed:
        state.logged_in = True
        if not getattr(user, "_loginguard_success_recorded", False):
            flow.record_success(state)  # the middleware's begin, without LoginGuardBackend
        return
    if getattr(user, "_loginguard_success_recorded", False):
        return  # LoginGuardBackend recorded this login's success
    # A login that no begin preceded (after sign-up, post_reset_login, another backend).
    try:
        account = flow.account_key(user.get_username())
        ip = conf.client_ip(request) or None
        attempt = flow.success_attempt({"account": account, "ip": ip, "device": None})
        if attempt is not None:
            conf.get_guard().record_success(**attempt)
    except (loginguard.LoginGuardError, ValidationError, flow.UnkeyableAccount):
        pass


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None or getattr(request, "loginguard", None) is not None:
        return  # begin() already counted this attempt
    if conf.backend_installed():
        return  # LoginGuardBackend counts every authenticate(), refused ones not at all
    account = credentials.get(get_user_model().USERNAME_FIELD)
    try:
        conf.get_guard().record_failure(
            account=flow.account_key(account) if isinstance(account, str) else None,
            ip=conf.client_ip(request) or None,
        )
    except (loginguard.LoginGuardError, ValidationError, flow.UnkeyableAccount):
        pass


def on_password_reset(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """django-allauth's ``password_reset`` (its ``PasswordResetFromKeyView`` set a new
    password): the user's accounts are reset, as after Django's ``PasswordResetConfirmView``."""
    flow.reset_user(user)


def on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "LOGINGUARD":
        conf.reset()


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="loginguard.logged_in")
    user_login_failed.connect(on_login_failed, dispatch_uid="loginguard.login_failed")
    setting_changed.connect(on_setting_changed, dispatch_uid="loginguard.setting_changed")
    if apps.is_installed("allauth.account"):
        from allauth.account.signals import password_reset

        password_reset.connect(on_password_reset, dispatch_uid="loginguard.allauth_password_reset")
