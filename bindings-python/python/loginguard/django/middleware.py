"""``LoginGuardMiddleware``: ``begin`` before every login form POST (any subclass of Django's
``LoginView`` and the admin site's login), the CAPTCHA step, 429/403 refusals, the
password-reset flow, device cookies, and ``reset_account`` (the user's username and email
keys) when ``PasswordResetConfirmView`` completes. ``LoginGuardBackend`` guards every other
``authenticate()``.

Under ASGI (or any async middleware chain) it runs as async middleware and makes the guard's
awaitable calls, so that the event loop never waits on a redis store."""

from __future__ import annotations

from typing import Any, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.views import LoginView, PasswordResetConfirmView
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.http import urlsafe_base64_decode

from loginguard.django import flow
from loginguard.django.flow import LoginState, refusal

__all__ = ["LoginGuardMiddleware", "LoginState", "login_view_form", "refusal"]


def _view_class(view_func: Callable[..., Any]) -> type | None:
    cls = getattr(view_func, "view_class", None)
    return cls if isinstance(cls, type) else None


def login_view_form(view_func: Callable[..., Any]) -> tuple[bool, type[forms.BaseForm] | None]:
    """Whether ``view_func`` is a login view, and its login form class when it names one."""
    cls = _view_class(view_func)
    if cls is not None and issubclass(cls, LoginView):
        initkwargs = getattr(view_func, "view_initkwargs", None) or {}
        found = (  # what LoginView.get_form_class() will answer
            initkwargs.get("authentication_form")
            or getattr(cls, "authentication_form", None)
            or initkwargs.get("form_class")
            or getattr(cls, "form_class", None)
        )
        return True, found if isinstance(found, type) else None
    # The admin's login is a method of its AdminSite that runs LoginView inside.
    site = getattr(view_func, "__self__", None)
    if getattr(view_func, "__name__", "") == "login" and apps.is_installed("django.contrib.admin"):
        from django.contrib.admin.forms import AdminAuthenticationForm
        from django.contrib.admin.sites import AdminSite

        if isinstance(site, AdminSite):
            return True, site.login_form or AdminAuthenticationForm
    return False, None


class LoginGuardMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        if not apps.is_installed("loginguard.django"):
            # Without the app, Django's user_logged_in signal would never reach the guard.
            raise ImproperlyConfigured(
                "LoginGuardMiddleware needs 'loginguard.django' in INSTALLED_APPS"
            )
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
            # Django adapts process_view by its own kind: a coroutine function runs on the loop.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        response = self.get_response(request)
        response = flow.after_login(request, response)
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
        is_login, form_class = login_view_form(view_func)
        if is_login:
            return flow.before_login(request, form_class)
        cls = _view_class(view_func)
        if cls is not None and issubclass(cls, PasswordResetConfirmView):
            self._before_password_reset(request, view_kwargs.get("uidb64", ""))
        return None

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        response = await flow.aafter_login(request, response)
        reset = getattr(request, "_loginguard_reset", None)
        if reset is not None:
            await sync_to_async(self._after_password_reset)(*reset)
        return response

    async def _aprocess_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.method != "POST":
            return None
        is_login, form_class = login_view_form(view_func)
        if is_login:
            return await flow.abefore_login(request, form_class)
        cls = _view_class(view_func)
        if cls is not None and issubclass(cls, PasswordResetConfirmView):
            uidb64 = view_kwargs.get("uidb64", "")
            await sync_to_async(self._before_password_reset)(request, uidb64)
        return None

    def _before_password_reset(self, request: HttpRequest, uidb64: str) -> None:
        user = _user_from_uid(uidb64)
        if user is not None:
            request._loginguard_reset = (user.pk, user.password)  # type: ignore[attr-defined]

    def _after_password_reset(self, pk: Any, old_password: str) -> None:
        user = get_user_model()._default_manager.filter(pk=pk).first()
        if user is not None and user.password != old_password:
            flow.reset_user(user)


def _user_from_uid(uidb64: str) -> Any:
    model = get_user_model()
    try:
        pk = model._meta.pk.to_python(urlsafe_base64_decode(uidb64).decode())
        return model._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, model.DoesNotExist):
        return None
