"""``LoginGuardMiddleware``: ``begin`` before every login view (any subclass of Django's
``LoginView``, the admin's included), the CAPTCHA step, 429/403 refusals, the password-reset
flow, device cookies, and ``reset_account`` when ``PasswordResetConfirmView`` completes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.views import LoginView, PasswordResetConfirmView
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.utils.http import urlsafe_base64_decode

import loginguard
from loginguard import Action, Decision, Reason
from loginguard.django import conf, devices


@dataclass
class LoginState:
    """What the middleware began for this request (``request.loginguard``)."""

    attempt: dict[str, Any]
    decision: Decision
    challenge_passed: bool
    succeeded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _view_class(view_func: Callable[..., Any]) -> type | None:
    cls = getattr(view_func, "view_class", None)
    return cls if isinstance(cls, type) else None


def _wait_text(ms: int) -> str:
    seconds = math.ceil(ms / 1000)
    if seconds < 120:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


def refusal(request: HttpRequest, decision: Decision, account: str) -> HttpResponse:
    """The response for an attempt whose password may not be checked."""
    if decision.action is Action.RESET_REQUIRED:
        target = conf.options().get("PASSWORD_RESET_URL", "password_reset")
        response: HttpResponse = HttpResponseRedirect(resolve_url(target))
        return response
    if decision.action is Action.CHALLENGE:
        verifier = conf.get_verifier()
        html = render_to_string(
            "loginguard/challenge.html",
            {
                "username": account,
                "username_field": conf.username_field(),
                "captcha": verifier.widget() if verifier else "",
                "captcha_configured": verifier is not None,
                "next": request.POST.get("next", ""),
                "decision": decision,
            },
            request=request,
        )
        return HttpResponse(html, status=200)
    if decision.reason is Reason.DENYLIST:
        status, message = 403, "Logins from your network are blocked."
    elif decision.reason is Reason.IP:
        message = (
            "Too many failed logins from your network. Try again in "
            f"{_wait_text(decision.retry_after_ms or 0)}, or from another network."
        )
        status = 429
    else:
        message = (
            "Too many failed logins on this account. Try again in "
            f"{_wait_text(decision.retry_after_ms or 0)}."
        )
        status = 429
    html = render_to_string(
        "loginguard/blocked.html", {"message": message, "decision": decision}, request=request
    )
    response = HttpResponse(html, status=status)
    if decision.retry_after_ms is not None:
        response["Retry-After"] = str(math.ceil(decision.retry_after_ms / 1000))
    return response


class LoginGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not apps.is_installed("loginguard.django"):
            # Without the app, Django's user_logged_in signal would never reach the guard.
            raise ImproperlyConfigured(
                "LoginGuardMiddleware needs 'loginguard.django' in INSTALLED_APPS"
            )
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        state: LoginState | None = getattr(request, "loginguard", None)
        if state is not None:
            response = self._after_login(request, response, state)
        reset = getattr(request, "_loginguard_reset", None)
        if reset is not None:
            self._after_password_reset(*reset)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.method != "POST":
            return None
        cls = _view_class(view_func)
        if cls is None:
            return None
        if issubclass(cls, LoginView):
            return self._before_login(request)
        if issubclass(cls, PasswordResetConfirmView):
            self._before_password_reset(request, view_kwargs.get("uidb64", ""))
        return None

    def _before_login(self, request: HttpRequest) -> HttpResponse | None:
        guard = conf.get_guard()
        account = request.POST.get(conf.username_field(), "")
        ip = conf.client_ip(request) or None
        device = devices.device_for(request, account)
        attempt: dict[str, Any] = {"account": account or None, "ip": ip, "device": device}
        try:
            decision = guard.check(**attempt)
        except loginguard.InvalidIpError:
            attempt["ip"] = None  # a REMOTE_ADDR that is no address: the account still counts
            try:
                decision = guard.check(**attempt)
            except loginguard.InvalidAttemptError:
                return None  # nothing to key: the login form rejects an empty username
        except loginguard.LoginGuardError:
            # An account loginguard cannot key (over-long, not UTF-8): the network still counts.
            attempt = {"account": None, "ip": ip, "device": None}
            decision = guard.check(**attempt)
        passed = False
        if decision.action is Action.CHALLENGE:
            verifier = conf.get_verifier()
            if verifier is not None:
                token = verifier.token(request)
                passed = bool(token) and verifier.verify(token, ip or "")
        decision = guard.begin(**attempt, challenge_passed=passed)
        if not decision.lets_password_be_checked(passed):
            return refusal(request, decision, account)
        request.loginguard = LoginState(attempt, decision, passed)
        return None

    def _after_login(
        self, request: HttpRequest, response: HttpResponse, state: LoginState
    ) -> HttpResponse:
        account = state.attempt["account"]
        if state.succeeded:
            if account:
                devices.issue(request, response, account)
            return response
        # A failed password: the advance begin() recorded stands; show what comes next.
        decision = conf.get_guard().check(**state.attempt)
        if decision.action is Action.ALLOW:
            return response
        return refusal(request, decision, account or "")

    def _before_password_reset(self, request: HttpRequest, uidb64: str) -> None:
        user = _user_from_uid(uidb64)
        if user is not None:
            request._loginguard_reset = (user.pk, user.password)

    def _after_password_reset(self, pk: Any, old_password: str) -> None:
        user = get_user_model()._default_manager.filter(pk=pk).first()
        if user is not None and user.password != old_password:
            conf.get_guard().reset_account(user.get_username())


def _user_from_uid(uidb64: str) -> Any:
    model = get_user_model()
    try:
        pk = model._meta.pk.to_python(urlsafe_base64_decode(uidb64).decode())
        return model._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, model.DoesNotExist):
        return None
