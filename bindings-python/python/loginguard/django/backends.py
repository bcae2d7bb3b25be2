"""``LoginGuardBackend``: the guard on every ``authenticate()`` call (the admin, Django REST
framework, django-allauth, custom views), first in ``AUTHENTICATION_BACKENDS``.

It keys the account, calls ``begin`` and, when the decision lets the password be checked,
asks the backends listed after it; it returns their user, so Django records this backend's
path in the session and ``get_user`` asks those backends in turn. A refused attempt, or one
that no backend accepts, raises ``PermissionDenied``: Django's ``authenticate()`` then returns
``None`` without trying the other backends itself. A success is recorded here, whether or not
the caller goes on to call ``login()``.

The account is the first of the credentials ``username``, the user model's
``USERNAME_FIELD``, ``email``, ``phone`` and then ``LOGINGUARD["ACCOUNT_CREDENTIALS"]`` whose
value is not ``None``. ``authenticate()`` calls that carry neither such a name nor a password
(``remote_user``, tokens) are passed on unguarded; a password with no name that can be keyed
is refused (and logged), never counted on the network alone.

``aauthenticate()`` (Django's ``aauthenticate()``, async views) does the same with the guard's
awaitable calls and the next backends' ``aauthenticate``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from inspect import signature
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, load_backend
from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from loginguard.django import conf, flow

logger = logging.getLogger("loginguard.django")

#: The credentials that name the account, in the order ``ModelBackend`` and allauth read them
#: (the user model's ``USERNAME_FIELD`` after ``username``).
ACCOUNT_CREDENTIALS = ("username", "email", "phone")


def _account(credentials: dict[str, Any]) -> tuple[bool, Any]:
    """Whether a credential names the account, and its value: the first candidate given and
    not ``None``."""
    names = (
        ACCOUNT_CREDENTIALS[0],
        get_user_model().USERNAME_FIELD,
        *ACCOUNT_CREDENTIALS[1:],
        *conf.account_credentials(),
    )
    for name in names:
        if credentials.get(name) is not None:
            return True, credentials[name]
    return False, None


def _key(credentials: dict[str, Any]) -> tuple[bool, str | None]:
    """``(guarded, account)``: whether this ``authenticate()`` is a login to guard, and its
    account key. ``PermissionDenied`` for a password login whose account cannot be keyed."""
    given, raw = _account(credentials)
    if not given and "password" not in credentials:
        return False, None  # not a password login
    try:
        account = flow.account_key(raw)
    except (ValidationError, flow.UnkeyableAccount):
        raise PermissionDenied from None
    if account is None:
        # Counting it on the network alone would let a credential loginguard does not know
        # (a custom backend's) guess passwords past every account threshold.
        logger.warning(
            "loginguard refused an authenticate() with a password and no account it can key "
            "(credentials: %s); add the name's keyword argument to "
            "LOGINGUARD['ACCOUNT_CREDENTIALS']",
            ", ".join(sorted(credentials)),
        )
        raise PermissionDenied
    return True, account


class LoginGuardBackend(BaseBackend):
    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> Any:
        guarded, account = _key(credentials)
        if not guarded:
            return self._authenticate(request, credentials)  # not a password login
        state = self._state(request, account)
        if state is None:
            try:
                state = flow.begin(request, account, from_view=False)
            except flow.UnkeyableAccount:
                raise PermissionDenied from None
            if request is not None and getattr(request, "loginguard", None) is None:
                request.loginguard = state  # type: ignore[attr-defined]
            if not state.allowed:
                raise PermissionDenied
        state.consumed = True
        user = self._authenticate(request, credentials)
        flow.record_success(state)
        user._loginguard_success_recorded = True
        return user

    async def aauthenticate(self, request: HttpRequest | None, **credentials: Any) -> Any:
        guarded, account = _key(credentials)
        if not guarded:
            return await self._aauthenticate(request, credentials)
        state = self._state(request, account)
        if state is None:
            try:
                state = await flow.abegin(request, account, from_view=False)
            except flow.UnkeyableAccount:
                raise PermissionDenied from None
            if request is not None and getattr(request, "loginguard", None) is None:
                request.loginguard = state  # type: ignore[attr-defined]
            if not state.allowed:
                raise PermissionDenied
        state.consumed = True
        user = await self._aauthenticate(request, credentials)
        await flow.arecord_success(state)
        user._loginguard_success_recorded = True
        return user

    def _state(self, request: HttpRequest | None, account: str | None) -> flow.LoginState | None:
        """The attempt the middleware or ``protect`` began for this very login, if any: its
        account is this one under the guard's ``account_normalize`` (the form may have changed
        the name's case in ``clean_username``)."""
        state = getattr(request, "loginguard", None) if request is not None else None
        if (
            isinstance(state, flow.LoginState)
            and state.from_view
            and state.allowed
            and not state.consumed
            and flow.same_account(state.attempt["account"], account)
        ):
            return state
        return None

    def _authenticate(self, request: HttpRequest | None, credentials: dict[str, Any]) -> Any:
        """What Django's ``authenticate()`` does, over the backends listed after this one."""
        for backend in self._next_backends():
            try:
                signature(backend.authenticate).bind(request, **credentials)
            except TypeError:
                continue  # this backend does not take these credentials
            user = backend.authenticate(request, **credentials)  # PermissionDenied propagates
            if user is not None:
                return user
        raise PermissionDenied

    async def _aauthenticate(self, request: HttpRequest | None, credentials: dict[str, Any]) -> Any:
        for backend in self._next_backends():
            try:
                signature(backend.authenticate).bind(request, **credentials)
            except TypeError:
                continue
            user = await backend.aauthenticate(request, **credentials)
            if user is not None:
                return user
        raise PermissionDenied

    def get_user(self, user_id: Any) -> Any:
        for backend in self._next_backends():
            user = backend.get_user(user_id)
            if user is not None:
                return user
        return None

    async def aget_user(self, user_id: Any) -> Any:
        for backend in self._next_backends():
            user = await backend.aget_user(user_id)
            if user is not None:
                return user
        return None

    def _next_backends(self) -> Iterator[Any]:
        after = False
        for path in settings.AUTHENTICATION_BACKENDS:
            backend = load_backend(path)
            if isinstance(backend, LoginGuardBackend):
                after = True
            elif after:
                yield backend
