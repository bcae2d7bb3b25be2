"""Login views that are not Django's LoginView: each calls ``authenticate()`` itself, as DRF's
token view, django-allauth and hand-written JSON endpoints do; ``protected_login`` also gets
the middleware's flow from ``@protect``."""

from __future__ import annotations

import json

from django.contrib.auth import authenticate, login
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from loginguard.django import protect


def plain_login(request: HttpRequest) -> HttpResponse:
    """A form POST checked with ``authenticate()`` and ``login()``."""
    user = authenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None:
        return HttpResponse("wrong username or password", status=401)
    login(request, user)
    return HttpResponse(f"welcome {user.get_username()}")


@csrf_exempt
def json_login(request: HttpRequest) -> HttpResponse:
    """A JSON API that hands out a token and never calls ``login()`` (like DRF's token view)."""
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "bad json"}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": "bad json"}, status=400)
    user = authenticate(request, username=body.get("username"), password=body.get("password"))
    if user is None:
        # LoginGuardBackend leaves the attempt it refused in request.loginguard.
        state = getattr(request, "loginguard", None)
        if state is not None and not state.allowed:
            return JsonResponse({"error": str(state.decision.action)}, status=429)
        return JsonResponse({"error": "wrong username or password"}, status=401)
    return JsonResponse({"token": f"token-for-{user.get_username()}"})


@protect
def protected_login(request: HttpRequest) -> HttpResponse:
    """``plain_login`` with the CAPTCHA step, 429 and the reset redirect from ``@protect``."""
    return plain_login(request)


class LowercaseAuthenticationForm(AuthenticationForm):
    """A login form that lowercases the username itself (``clean_username``), after the field's
    own cleaning that the middleware keys by."""

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).lower()
