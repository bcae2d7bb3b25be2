"""The admin's "Login protection" page: support staff type a username and/or an IP address,
see what each counter says and why the login is refused, and unlock with one button.

Looking up needs the permission ``loginguard.view_loginprotection``, unlocking
``loginguard.unlock_loginprotection`` (superusers have both); every unlock is written to the
admin log (``LogEntry``). ``manage.py loginguard inspect|unlock`` does the same from a shell.
A project with its own ``AdminSite`` registers it there:
``site.register(LoginProtection, LoginProtectionAdmin)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from loginguard import Action, DimensionState
from loginguard.django import support
from loginguard.django.models import LoginProtection

VIEW_PERMISSION = "loginguard.view_loginprotection"
UNLOCK_PERMISSION = "loginguard.unlock_loginprotection"


class LookupForm(forms.Form):
    """An account and/or an IP address, as the user would type them at login."""

    account = forms.CharField(label="Username", required=False, strip=False)
    ip = forms.GenericIPAddressField(label="IP address", required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not cleaned.get("account") and not cleaned.get("ip"):
            raise forms.ValidationError("Type a username, an IP address or both.")
        return cleaned


@dataclass(frozen=True)
class Row:
    """One governing counter, ready for the page."""

    state: DimensionState
    locked_until: datetime | None
    lock_left: str | None

    @property
    def why(self) -> str:
        if self.state.action is Action.ALLOW:
            return ""
        return support.WHY.get(self.state.dimension, self.state.dimension)


def _time(ms: int) -> datetime:
    """A time of the guard's clock (Unix epoch milliseconds; a manual clock starts at 0)."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _rows(found: support.Lookup) -> list[Row]:
    rows = []
    for s in found.inspection.dimensions:
        until = s.locked_until_ms
        locked = until is not None and until > found.now_ms
        rows.append(
            Row(
                s,
                _time(until) if locked and until is not None else None,
                support.wait_text(until - found.now_ms) if locked and until is not None else None,
            )
        )
    return rows


@admin.register(LoginProtection)
class LoginProtectionAdmin(admin.ModelAdmin):
    """No list of stored names (there are none): one lookup form and an unlock button."""

    template = "loginguard/admin/login_protection.html"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(VIEW_PERMISSION))

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(UNLOCK_PERMISSION))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        # Only the page: the model has no table, so no add/change/delete/history views.
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self.unlock_view(request)
        given = "account" in request.GET or "ip" in request.GET
        form = LookupForm(request.GET if given else None)
        found = None
        if given and form.is_valid():
            found = self._lookup(form)
        return self._render(request, form, found, extra_context)

    def unlock_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_unlock_permission(request):
            raise PermissionDenied
        form = LookupForm(request.POST)
        if form.is_valid():
            account, ip = form.cleaned_data["account"], form.cleaned_data["ip"]
            try:
                done = support.unlock(account, ip)
            except support.SupportError as e:
                form.add_error(e.field, str(e))
            else:
                key = support.key_account(account)
                message = "; ".join(done)
                message = message[:1].upper() + message[1:]
                self.log_change(request, LoginProtection(account=key or "", ip=ip or ""), message)
                self.message_user(request, f"{message}.", messages.SUCCESS)
                query = urlencode({"account": account or "", "ip": ip or ""})
                return HttpResponseRedirect(f"{request.path}?{query}")
        return self._render(request, form, None, None)

    def _lookup(self, form: LookupForm) -> support.Lookup | None:
        try:
            return support.lookup(form.cleaned_data["account"], form.cleaned_data["ip"])
        except support.SupportError as e:
            form.add_error(e.field, str(e))
            return None

    def _render(
        self,
        request: HttpRequest,
        form: LookupForm,
        found: support.Lookup | None,
        extra_context: dict[str, Any] | None,
    ) -> HttpResponse:
        decision = found.inspection.decision if found is not None else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Login protection",
            "opts": self.opts,
            "form": form,
            "found": found,
            "rows": _rows(found) if found is not None else [],
            "decision": decision,
            "means": support.MEANS[decision.action] if decision is not None else "",
            "why": found.why() if found is not None else "",
            "retry_after": (
                support.wait_text(decision.retry_after_ms)
                if decision is not None and decision.retry_after_ms is not None
                else None
            ),
            "can_unlock": self.has_unlock_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.template, context)
