"""Cloudflare Turnstile's protocol, with the widget script served by the local test CAPTCHA
(examples/local-captcha/server.py) instead of challenges.cloudflare.com."""

from typing import Any

from loginguard.django.captcha import Turnstile


class LocalTurnstile(Turnstile):
    def __init__(self, *, script_url: str, **options: Any) -> None:
        super().__init__(**options)
        self.script_url = script_url  # type: ignore[misc]
