"""``manage.py loginguard inspect|unlock --account NAME --ip ADDRESS``: support staff look up
and clear counters of this process's guard (with the in-memory store, run it where the guard
lives, e.g. ``manage.py shell`` or a view that calls ``call_command``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import loginguard
from loginguard.django.conf import get_guard


class Command(BaseCommand):
    help = "Inspect or unlock an account or a network in loginguard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["inspect", "unlock"])
        parser.add_argument("--account", help="the account name as typed at login")
        parser.add_argument("--ip", help="an IPv4 or IPv6 address of the network")

    def handle(self, *args: Any, **options: Any) -> None:
        account, ip = options["account"], options["ip"]
        if not account and not ip:
            raise CommandError("give --account, --ip or both")
        guard = get_guard()
        try:
            if options["action"] == "inspect":
                self._inspect(guard, account, ip)
            else:
                if account:
                    guard.reset_account(account)
                    self.stdout.write(f"unlocked account {account!r}")
                if ip:
                    guard.reset_ip(ip)
                    self.stdout.write(f"unlocked network of {ip}")
        except loginguard.LoginGuardError as e:
            raise CommandError(f"{e.kind}: {e}") from e

    def _inspect(self, guard: loginguard.Guard, account: str | None, ip: str | None) -> None:
        found = guard.inspect(account=account, ip=ip)
        d = found.decision
        line = f"decision: {d}"
        self.stdout.write(line)
        if found.denylisted:
            self.stdout.write("network: on the deny list")
        for s in found.dimensions:
            lock = f" locked_until_ms={s.locked_until_ms}" if s.locked_until_ms is not None else ""
            reset = " reset_required" if s.reset_required else ""
            self.stdout.write(
                f"{s.dimension}: {s.action.value} failures={s.failures} "
                f"consecutive={s.consecutive}{lock}{reset}"
            )
