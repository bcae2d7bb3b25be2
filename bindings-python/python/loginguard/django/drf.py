"""Refusals for API clients: Django REST framework's token views, JSON login views and
django-allauth's forms.

``LoginGuardBackend`` refuses an attempt by raising ``PermissionDenied`` inside
``authenticate()``, which then returns ``None``: DRF's ``obtain_auth_token`` answers
``400 "Unable to log in with provided credentials."`` and allauth shows its wrong-password
error. The backend leaves the refused attempt in ``request.loginguard``; these helpers turn it
into an answer that says why::

    REST_FRAMEWORK = {"EXCEPTION_HANDLER": "loginguard.django.drf.exception_handler"}

A refused login then gets ``429`` (``403`` for a network on the deny list) with
``Retry-After`` while a lock runs, and the JSON body
``{"detail": ..., "action": ..., "reason": ..., "retry_after_ms": ...}``.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import JsonResponse

from loginguard import Action, Decision, Reason
from loginguard.django import flow, support

__all__ = [
    "exception_handler",
    "json_refusal",
    "refusal",
    "refusal_message",
    "refused_decision",
]


def refused_decision(request: Any) -> Decision | None:
    """The decision that refused this request's login, if ``LoginGuardBackend`` refused one.
    ``request`` is Django's ``HttpRequest`` or DRF's ``Request`` around it."""
    for candidate in (request, getattr(request, "_request", None)):
        state = getattr(candidate, "loginguard", None)
        if isinstance(state, flow.LoginState) and not state.allowed:
            return state.decision
    return None


def refusal_message(decision: Decision) -> str:
    """What to tell the user, the way the login pages say it."""
    wait = support.wait_text(decision.retry_after_ms or 0)
    if decision.reason is Reason.DENYLIST:
        return "Logins from your network are blocked."
    if decision.reason is Reason.SITE:
        return flow.SITE_CHALLENGE_MESSAGE
    if decision.action is Action.CHALLENGE:
        return "Too many failed logins: solve the CAPTCHA to log in."
    if decision.action is Action.RESET_REQUIRED:
        return "Too many failed logins on this account: reset your password to log in."
    if decision.reason in (Reason.IP, Reason.IP_RANGE):
        return (
            f"Too many failed logins from your network. Try again in {wait}, "
            "or from another network."
        )
    return f"Too many failed logins on this account. Try again in {wait}."


def refusal(decision: Decision) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, the JSON body and the headers for a refused login: ``429`` (``403`` for the
    deny list), with ``Retry-After`` in seconds while a lock runs."""
    status = 403 if decision.reason is Reason.DENYLIST else 429
    body = {
        "detail": refusal_message(decision),
        "action": decision.action.value,
        "reason": str(decision.reason) if decision.reason is not None else None,
        "retry_after_ms": decision.retry_after_ms,
    }
    headers = {}
    if decision.retry_after_ms is not None:
        headers["Retry-After"] = str(math.ceil(decision.retry_after_ms / 1000))
    return status, body, headers


def json_refusal(request: Any) -> JsonResponse | None:
    """For a hand-written JSON login view: the answer to a login the backend refused, else
    ``None``."""
    decision = refused_decision(request)
    if decision is None:
        return None
    status, body, headers = refusal(decision)
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF's ``EXCEPTION_HANDLER``: a login that ``LoginGuardBackend`` refused answers ``429``
    with why; anything else goes to DRF's own handler."""
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as drf_exception_handler

    decision = refused_decision(context.get("request"))
    if decision is None:
        return drf_exception_handler(exc, context)
    status, body, headers = refusal(decision)
    return Response(body, status=status, headers=headers)
