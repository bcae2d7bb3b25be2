"""``guard_event`` (loginguard's events as a Django signal) and the receivers of Django's own
login signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.signals import setting_changed
from django.dispatch import Signal
from django.http import HttpRequest

import loginguard
from loginguard.django import conf

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
    guard = conf.get_guard()
    if state is not None:
        guard.record_success(**state.attempt, after_begin=True)
        state.succeeded = True
        return
    # A login that did not go through a guarded login view (another backend or view).
    try:
        guard.record_success(account=user.get_username(), ip=conf.client_ip(request) or None)
    except loginguard.LoginGuardError:
        pass


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None or getattr(request, "loginguard", None) is not None:
        return  # the middleware's begin() already counted this attempt
    account = credentials.get(get_user_model().USERNAME_FIELD)
    try:
        conf.get_guard().record_failure(
            account=account if isinstance(account, str) else None,
            ip=conf.client_ip(request) or None,
        )
    except loginguard.LoginGuardError:
        pass


def on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "LOGINGUARD":
        conf.reset()


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="loginguard.logged_in")
    user_login_failed.connect(on_login_failed, dispatch_uid="loginguard.login_failed")
    setting_changed.connect(on_setting_changed, dispatch_uid="loginguard.setting_changed")
