"""Creates (or resets) the example site's users, all with the same known password."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

PASSWORD = "correct horse battery staple"
USERS = ["alice", "bob", "carol", "dave", "erin"]


class Command(BaseCommand):
    help = (
        "Creates the demo users (alice, bob, carol, dave, erin, and admin) with a known password."
    )

    def handle(self, *args, **options):
        model = get_user_model()
        for name in [*USERS, "admin"]:
            user, _ = model.objects.get_or_create(
                username=name, defaults={"email": f"{name}@example.com"}
            )
            user.email = f"{name}@example.com"
            user.is_staff = user.is_superuser = name == "admin"
            user.set_password(PASSWORD)
            user.save()
        self.stdout.write(f"users {', '.join(USERS)} and admin, password: {PASSWORD}")
