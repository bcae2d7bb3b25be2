"""CAPTCHA verifiers: reCAPTCHA, hCaptcha and Turnstile (standard library HTTP only) and a
test double. Any timeout, network error, HTTP error or malformed answer fails closed."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from typing import ClassVar

from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString


class CaptchaVerifier(ABC):
    """Reads the solved CAPTCHA's token from the login POST and asks whether it is valid."""

    #: The POST field the widget fills in.
    field: ClassVar[str]

    def token(self, request: HttpRequest) -> str:
        return str(request.POST.get(self.field, ""))

    @abstractmethod
    def verify(self, token: str, remote_ip: str) -> bool:
        """Whether ``token`` is a solved CAPTCHA for a client at ``remote_ip``."""

    @abstractmethod
    def widget(self) -> SafeString:
        """The HTML that shows the CAPTCHA inside the login form."""


class SiteVerify(CaptchaVerifier):
    """The ``siteverify`` protocol shared by reCAPTCHA, hCaptcha and Turnstile: a form POST of
    ``secret``, ``response`` and ``remoteip`` answered by JSON with ``"success": true``."""

    verify_url: ClassVar[str]
    script_url: ClassVar[str]
    widget_class: ClassVar[str]

    def __init__(
        self,
        *,
        secret: str,
        site_key: str = "",
        verify_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not secret:
            raise ValueError(f"{type(self).__name__} needs a SECRET")
        self.secret = secret
        self.site_key = site_key
        self.url = verify_url or self.verify_url
        self.timeout = float(timeout)

    def verify(self, token: str, remote_ip: str) -> bool:
        if not token:
            return False
        fields = {"secret": self.secret, "response": token}
        if remote_ip:
            fields["remoteip"] = remote_ip
        request = urllib.request.Request(
            self.url,
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 200:
                    return False
                answer = json.loads(response.read(1 << 16))
        except (OSError, ValueError):  # timeouts, refused connections, HTTP errors, bad JSON
            return False
        return isinstance(answer, dict) and answer.get("success") is True

    def widget(self) -> SafeString:
        return format_html(
            '<script src="{}" async defer></script><div class="{}" data-sitekey="{}"></div>',
            self.script_url,
            self.widget_class,
            self.site_key,
        )


class ReCaptcha(SiteVerify):
    """Google reCAPTCHA (v2 checkbox or invisible)."""

    field = "g-recaptcha-response"
    verify_url = "https://www.google.com/recaptcha/api/siteverify"
    script_url = "https://www.google.com/recaptcha/api.js"
    widget_class = "g-recaptcha"


class HCaptcha(SiteVerify):
    """hCaptcha."""

    field = "h-captcha-response"
    verify_url = "https://api.hcaptcha.com/siteverify"
    script_url = "https://js.hcaptcha.com/1/api.js"
    widget_class = "h-captcha"


class Turnstile(SiteVerify):
    """Cloudflare Turnstile."""

    field = "cf-turnstile-response"
    verify_url = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    script_url = "https://challenges.cloudflare.com/turnstile/v0/api.js"
    widget_class = "cf-turnstile"


class StaticCaptcha(CaptchaVerifier):
    """A test double: the challenge is passed by typing the configured secret."""

    field = "loginguard-captcha"

    def __init__(self, *, secret: str, **_ignored: object) -> None:
        if not secret:
            raise ValueError("StaticCaptcha needs a SECRET")
        self.secret = secret

    def verify(self, token: str, remote_ip: str) -> bool:
        return bool(token) and token == self.secret

    def widget(self) -> SafeString:
        return format_html(
            '<label>CAPTCHA: <input type="text" name="{}" autocomplete="off"></label>', self.field
        )
