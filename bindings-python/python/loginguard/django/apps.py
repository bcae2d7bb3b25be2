"""The Django app: connects Django's login signals and settings changes."""

from __future__ import annotations

from django.apps import AppConfig


class LoginGuardConfig(AppConfig):
    name = "loginguard.django"
    label = "loginguard"
    verbose_name = "loginguard"
    default_auto_field = "django.db.models.BigAutoField"  # whatever the project's default

    def ready(self) -> None:
        from loginguard.django import checks, signals  # noqa: F401 (checks registers itself)

        signals.connect()
