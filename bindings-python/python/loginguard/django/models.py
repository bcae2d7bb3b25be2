"""``LoginProtection``: no table, only the admin's "Login protection" page and its two
permissions. loginguard stores no account names or addresses: staff type what they look up."""

from __future__ import annotations

from django.db import models


class LoginProtection(models.Model):
    """Stands for one lookup (an account and/or a network) in the admin and its log."""

    account = models.CharField(max_length=1024, blank=True)
    ip = models.CharField("IP address", max_length=64, blank=True)

    class Meta:
        managed = False  # nothing is stored: the counters live in the guard's store
        default_permissions = ()
        permissions = (
            ("view_loginprotection", "Can look up login protection of accounts and networks"),
            ("unlock_loginprotection", "Can unlock accounts and networks"),
        )
        verbose_name = "login protection"
        verbose_name_plural = "login protection"

    def __str__(self) -> str:
        parts = []
        if self.account:
            parts.append(f"account {self.account!r}")
        if self.ip:
            parts.append(f"network of {self.ip}")
        return " and ".join(parts) or "nothing"
