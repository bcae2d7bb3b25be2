"""One login attempt through the guard, shared by the middleware, the ``protect`` decorator and
the authentication backend: the account keyed as Django will authenticate it, ``begin`` with
the CAPTCHA step, the refusal responses, and what follows the view."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.template.loader import render_to_string

import loginguard
from loginguard import Action, Decision, Reason
from loginguard.django import conf, devices


class UnkeyableAccount(Exception):
    """An account that loginguard cannot key (over its byte limit, or not text): the attempt
    is refused, never counted on the network alone."""


@dataclass
class LoginState:
    """The attempt that ``begin`` started for this request (``request.loginguard``)."""

    attempt: dict[str, Any]
    decision: Decision
    challenge_passed: bool
    #: Began by the middleware or ``protect``, which answer the CAPTCHA step, 429 and the reset
    #: redirect; the backend alone only refuses.
    from_view: bool = False
    #: The backend has checked the password against this begin (one check per begin).
    consumed: bool = False
    #: ``record_success(after_begin=True)`` was called for it.
    succeeded: bool = False
    #: Django's ``login()`` followed (``user_logged_in``): the browser gets a device cookie.
    logged_in: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        """Whether the password may be checked."""
        return self.decision.lets_password_be_checked(self.challenge_passed)


def account_key(value: object, username_field: forms.Field | None = None) -> str | None:
    """The account as Django will authenticate it: the login form's username field cleaning
    (``str.strip()``, then NFKC, as ``UsernameField`` does) and the user model's
    ``normalize_username``. ``None`` for an empty name; ``ValidationError`` when the field
    rejects the value (the form then authenticates nobody); ``UnkeyableAccount`` for a value
    that is not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UnkeyableAccount("the username is not text")
    if username_field is None:
        from django.contrib.auth.forms import UsernameField  # imports the auth models

        username_field = UsernameField(required=False)
    cleaned = username_field.clean(value)
    if not isinstance(cleaned, str):
        raise UnkeyableAccount("the username is not text")
    normalize = getattr(get_user_model(), "normalize_username", None)
    if normalize is not None:
        cleaned = normalize(cleaned)
        if not isinstance(cleaned, str):
            raise UnkeyableAccount("the username is not text")
    # NFKC can start a name with a space (U+00A8 is " \u0308"): strip again, so that keying
    # the form's cleaned name again (in the backend) gives the same key.
    return cleaned.strip() or None


def same_account(a: str | None, b: str | None) -> bool:
    """Whether the guard keys ``a`` and ``b`` as one account (its ``account_normalize``): a
    login form whose ``clean_username`` lowercases passes ``alice`` to ``authenticate()`` for
    the ``Alice`` the middleware began with."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    return conf.get_guard().same_account(a, b)


def form_account(request: HttpRequest, form_class: type[forms.BaseForm] | None) -> str | None:
    """The account that ``form_class`` (a login form such as ``AuthenticationForm``) will pass
    to ``authenticate()`` for this POST, read and cleaned by the form's own username field."""
    name = conf.username_field()
    form: forms.BaseForm | None = None
    if form_class is not None:
        try:
            form = form_class(request, data=request.POST)  # type: ignore[call-arg,misc]
        except TypeError:  # a form without AuthenticationForm's (request, data=...) signature
            form = None
    if form is None or name not in form.fields:
        return account_key(request.POST.get(name))
    username_field = form.fields[name]
    raw = username_field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
    return account_key(raw, username_field)


def _refuse_unkeyable(guard: loginguard.Guard, account: str | None) -> None:
    """Over 1024 bytes, or nothing once the policy normalizes it: refused, never counted
    on the network alone (the core would treat it as absent)."""
    if account is not None and not guard.keys_account(account):
        raise UnkeyableAccount("the username cannot be keyed")


def begin(request: Any, account: str | None, *, from_view: bool) -> LoginState:
    """``check``, the CAPTCHA when the account or network is over ``challenge_after``, then
    ``begin``. ``request`` may be ``None`` (an ``authenticate()`` without one)."""
    guard = conf.get_guard()
    _refuse_unkeyable(guard, account)
    ip = (conf.client_ip(request) or None) if request is not None else None
    device = devices.device_for(request, account) if request is not None and account else None
    attempt: dict[str, Any] = {"account": account, "ip": ip, "device": device}
    try:
        try:
            decision = guard.check(**attempt)
        except loginguard.InvalidIpError:
            conf.warn_no_ip(attempt["ip"])
            attempt["ip"] = None  # a REMOTE_ADDR that is no address: the account still counts
            decision = guard.check(**attempt)
        passed = False
        if decision.action is Action.CHALLENGE and request is not None:
            verifier = conf.get_verifier()
            if verifier is not None:
                token = verifier.token(request)
                passed = bool(token) and verifier.verify(token, attempt["ip"] or "")
        decision = guard.begin(**attempt, challenge_passed=passed)
    except loginguard.LoginGuardError as e:
        # Over 1024 bytes, or neither an account nor an address: refused, never counted on
        # the network alone.
        raise UnkeyableAccount(str(e)) from e
    return LoginState(attempt, decision, passed, from_view=from_view)


async def _aguard() -> loginguard.Guard:
    """The process-wide guard; built in a thread the first time (a redis guard connects)."""
    guard = conf._guard
    if guard is not None:
        return guard
    return await sync_to_async(conf.get_guard, thread_sensitive=False)()


async def abegin(request: Any, account: str | None, *, from_view: bool) -> LoginState:
    """``begin`` for async views and ASGI: the guard's awaitable calls (on a redis guard the
    event loop never waits on Redis), the device lookup and the CAPTCHA verification in a
    thread."""
    guard = await _aguard()
    _refuse_unkeyable(guard, account)
    ip = (conf.client_ip(request) or None) if request is not None else None
    device = None
    if request is not None and account and request.COOKIES.get(devices.cookie_name()):
        device = await sync_to_async(devices.device_for)(request, account)  # the ORM
    attempt: dict[str, Any] = {"account": account, "ip": ip, "device": device}
    try:
        try:
            decision = await guard.acheck(**attempt)
        except loginguard.InvalidIpError:
            conf.warn_no_ip(attempt["ip"])
            attempt["ip"] = None
            decision = await guard.acheck(**attempt)
        passed = False
        if decision.action is Action.CHALLENGE and request is not None:
            verifier = conf.get_verifier()
            if verifier is not None:
                token = verifier.token(request)
                if token:  # the provider's HTTP call, off the event loop
                    verify = sync_to_async(verifier.verify, thread_sensitive=False)
                    passed = bool(await verify(token, attempt["ip"] or ""))
        decision = await guard.abegin(**attempt, challenge_passed=passed)
    except loginguard.LoginGuardError as e:
        raise UnkeyableAccount(str(e)) from e
    return LoginState(attempt, decision, passed, from_view=from_view)


def shared_account(account: str | None) -> bool:
    """Whether more than one user's ``USERNAME_FIELD`` equals ``account`` but for case (Django's
    users ``alice`` and ``Alice``): under ``account_normalize = "fold"`` they are one account,
    so a login as one of them must not clear the counters the other's guesses left."""
    if not account or conf.get_guard().account_normalize != "fold":
        return False  # under "exact" each spelling is its own account
    model = get_user_model()
    users = model._default_manager.filter(**{f"{model.USERNAME_FIELD}__iexact": account})
    return len(users.values_list("pk", flat=True)[:2]) > 1


def success_attempt(attempt: dict[str, Any]) -> dict[str, Any] | None:
    """What ``record_success`` is given for a login of ``attempt``: on a shared account
    (``shared_account``) the network alone, so that only its advance is taken back and the
    account's counters stay (``None``: nothing to record). A trusted-device attempt counts on
    (account, device) alone, that device's own, and is recorded as it is."""
    if attempt["device"] is None and shared_account(attempt["account"]):
        attempt = {"account": None, "ip": attempt["ip"], "device": None}
    if attempt["account"] is None and attempt["ip"] is None:
        return None
    return attempt


def record_success(state: LoginState) -> None:
    """Records the success of the password checked after ``state``'s begin (once)."""
    if not state.succeeded:
        attempt = success_attempt(state.attempt)
        if attempt is not None:
            conf.get_guard().record_success(**attempt, after_begin=True)
        state.succeeded = True


async def arecord_success(state: LoginState) -> None:
    """``record_success`` for async views."""
    if not state.succeeded:
        attempt = await sync_to_async(success_attempt)(state.attempt)
        if attempt is not None:
            await conf.get_guard().arecord_success(**attempt, after_begin=True)
        state.succeeded = True


def user_accounts(user: Any) -> list[str]:
    """The account keys ``user`` logs in with: the username and, when it differs, the email
    (the account under an email-login backend)."""
    found: list[str] = []
    names = [user.get_username()]
    email_field = getattr(user, "get_email_field_name", None)
    if email_field is not None:
        names.append(getattr(user, email_field(), None))
    for name in names:
        if not isinstance(name, str) or not name:
            continue
        try:
            account = account_key(name) or name
        except (ValidationError, UnkeyableAccount):
            account = name
        if account not in found:
            found.append(account)
    return found


def reset_user(user: Any) -> None:
    """``reset_account`` for every account key of ``user``: after a password reset."""
    guard = conf.get_guard()
    for account in user_accounts(user):
        try:
            guard.reset_account(account)
        except loginguard.LoginGuardError:
            pass  # a name loginguard cannot key has no counters to clear


def _wait_text(ms: int) -> str:
    seconds = math.ceil(ms / 1000)
    if seconds < 120:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


#: What the CAPTCHA page says while the site-wide signal challenges everyone (reason ``site``).
SITE_CHALLENGE_MESSAGE = "We are seeing unusual login activity, please complete the CAPTCHA."


def challenge_message(decision: Decision) -> str:
    """Why the CAPTCHA page appears: a site-wide attack, or failed logins on this account or
    network."""
    if decision.reason is Reason.SITE:
        return SITE_CHALLENGE_MESSAGE
    return "There were several failed logins. Solve the CAPTCHA and enter your password again."


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
                "message": challenge_message(decision),
            },
            request=request,
        )
        return HttpResponse(html, status=200)
    if decision.reason is Reason.DENYLIST:
        status, message = 403, "Logins from your network are blocked."
    elif decision.reason in (Reason.IP, Reason.IP_RANGE):
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


def unkeyable(request: HttpRequest) -> HttpResponse:
    """``400``: a username that cannot be an account (e.g. over 1024 bytes once cleaned)."""
    html = render_to_string(
        "loginguard/blocked.html",
        {"message": "This username cannot be used to log in.", "decision": None},
        request=request,
    )
    return HttpResponse(html, status=400)


def before_login(
    request: HttpRequest, form_class: type[forms.BaseForm] | None
) -> HttpResponse | None:
    """Before a login view handles a POST: a response that refuses it, or ``None`` to let the
    view check the password (``request.loginguard`` then holds the begun attempt)."""
    account = _login_account(request, form_class)
    if not isinstance(account, str):
        return account
    try:
        state = begin(request, account, from_view=True)
    except UnkeyableAccount:
        return unkeyable(request)
    return _began(request, state, account)


async def abefore_login(
    request: HttpRequest, form_class: type[forms.BaseForm] | None
) -> HttpResponse | None:
    """``before_login`` for ASGI and async views."""
    account = _login_account(request, form_class)
    if not isinstance(account, str):
        return account
    try:
        state = await abegin(request, account, from_view=True)
    except UnkeyableAccount:
        return unkeyable(request)
    return _began(request, state, account)


def _login_account(
    request: HttpRequest, form_class: type[forms.BaseForm] | None
) -> str | HttpResponse | None:
    """The POST's account, or the response (or ``None``) that settles the POST without it."""
    try:
        account = form_account(request, form_class)
    except ValidationError:
        return None  # the form shows its error and authenticates nobody: nothing to count
    except UnkeyableAccount:
        return unkeyable(request)
    return account  # None for an empty username: the form rejects it


def _began(request: HttpRequest, state: LoginState, account: str) -> HttpResponse | None:
    if not state.allowed:
        return refusal(request, state.decision, account)
    request.loginguard = state  # type: ignore[attr-defined]
    return None


def after_login(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """After the login view: the device cookie on a login, the next step after a failure."""
    state = _unanswered(request)
    if state is None or (state.succeeded and not state.logged_in):
        return response
    if state.logged_in:
        return _issue_device(request, response, state)
    # A failed password: the advance begin() recorded stands; show what comes next.
    return _next_step(request, response, state, conf.get_guard().check(**state.attempt))


async def aafter_login(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """``after_login`` for ASGI and async views."""
    state = _unanswered(request)
    if state is None or (state.succeeded and not state.logged_in):
        return response
    if state.logged_in:  # request.user and the device lookup use the ORM
        return await sync_to_async(_issue_device)(request, response, state)
    return _next_step(request, response, state, await conf.get_guard().acheck(**state.attempt))


def _unanswered(request: HttpRequest) -> LoginState | None:
    """The view's begun attempt, once (under both the middleware and ``protect``)."""
    state: LoginState | None = getattr(request, "loginguard", None)
    if state is None or not state.from_view or state.extra.get("answered"):
        return None
    state.extra["answered"] = True
    # state.succeeded without logged_in: the right password, but the view refused the login
    # (e.g. not staff).
    return state


def _issue_device(request: HttpRequest, response: HttpResponse, state: LoginState) -> HttpResponse:
    account = state.attempt["account"]
    user = getattr(request, "user", None)
    if account and user is not None and user.is_authenticated:
        devices.issue(request, response, account, user)
    return response


def _next_step(
    request: HttpRequest, response: HttpResponse, state: LoginState, decision: Decision
) -> HttpResponse:
    if decision.action is Action.ALLOW:
        return response
    return refusal(request, decision, state.attempt["account"] or "")
