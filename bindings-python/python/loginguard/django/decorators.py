"""``protect``: the middleware's whole login flow (CAPTCHA step, 429/403, the password-reset
redirect, device cookies) for one view, without the middleware."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar, overload

from django import forms
from django.http import HttpRequest, HttpResponse

from loginguard.django import flow

View = TypeVar("View", bound=Callable[..., HttpResponse])


@overload
def protect(view: View, /) -> View: ...
@overload
def protect(*, form_class: type[forms.BaseForm] | None = None) -> Callable[[View], View]: ...


def protect(
    view: View | None = None, /, *, form_class: type[forms.BaseForm] | None = None
) -> View | Callable[[View], View]:
    """Guards a login view's POSTs: ``@protect`` or ``@protect(form_class=MyLoginForm)``.

    The account is read from the POST and cleaned by ``form_class``'s username field (the
    view's own form for a ``LoginView``, else Django's ``AuthenticationForm``)."""

    def decorate(view_func: View) -> View:
        @wraps(view_func)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            state = getattr(request, "loginguard", None)
            if request.method != "POST" or (
                isinstance(state, flow.LoginState) and state.from_view
            ):  # a GET, or the middleware already began this login
                return view_func(request, *args, **kwargs)
            refused = flow.before_login(request, _form_class(view_func, form_class))
            if refused is not None:
                return refused
            return flow.after_login(request, view_func(request, *args, **kwargs))

        return guarded  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def _form_class(
    view_func: Callable[..., Any], given: type[forms.BaseForm] | None
) -> type[forms.BaseForm]:
    if given is not None:
        return given
    from loginguard.django.middleware import login_view_form

    found = login_view_form(view_func)[1]
    if found is not None:
        return found
    from django.contrib.auth.forms import AuthenticationForm

    return AuthenticationForm
