"""``manage.py loginguard inspect|unlock --account NAME --ip ADDRESS``: support staff look up
and clear counters of this process's guard (with the in-memory store, run it where the guard
lives, e.g. ``manage.py shell`` or a view that calls ``call_command``). The admin's "Login
protection" page does the same through :mod:`loginguard.django.support`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from loginguard.django import support


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
        try:
            if options["action"] == "inspect":
                lines = support.lookup(account, ip).lines()
            else:
                lines = support.unlock(account, ip)
        except support.SupportError as e:
            raise CommandError(str(e)) from e
        for line in lines:
            self.stdout.write(line)
