from email import message_from_string, policy
from pathlib import Path

from django.conf import settings
from django.shortcuts import render

from loginguard.django import get_guard
from loginguard.django.conf import client_ip


def home(request):
    """The welcome page; for a logged-in user, also what a login to the account from a browser
    without this one's device cookie would get now (``inspect`` changes no counter)."""
    context = {}
    if request.user.is_authenticated:
        ip = client_ip(request) or None
        context["untrusted"] = get_guard().inspect(account=request.user.username, ip=ip).decision
    return render(request, "demo_site/home.html", context)


def outbox(request):
    """The mails the site sent (password-reset links), newest first: the demo's mail client."""
    folder = Path(settings.EMAIL_FILE_PATH)
    files = sorted(folder.glob("*.log"), key=lambda f: f.stat().st_mtime, reverse=True)
    mails = []
    for file in files[:20]:
        for raw in file.read_text().split("-" * 79):
            if raw.strip():
                mail = message_from_string(raw.strip(), policy=policy.default)
                body = mail.get_body(("plain",))
                mails.append(
                    {
                        "to": mail["To"],
                        "subject": mail["Subject"],
                        "body": body.get_content() if body else "",
                    }
                )
    return render(request, "demo_site/outbox.html", {"mails": mails})
