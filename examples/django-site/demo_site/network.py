"""Demo only: one browser on localhost can pretend to come from another network, to see what
"try again from another network" means without a second connection. Never in a real site: the
client would choose its own address. (The browser tests come from several networks the real
way instead: a trusted reverse proxy's X-Forwarded-For, LOGINGUARD["TRUSTED_PROXIES"].)"""

import ipaddress
import random

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from loginguard.django.conf import client_ip

COOKIE = "demo_network"


class PretendNetworkMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        value = request.COOKIES.get(COOKIE, "")
        try:
            request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(value))
        except ValueError:
            pass
        return self.get_response(request)


def network(request):
    """Template context: the network loginguard counts this browser's attempts on."""
    return {"network": client_ip(request)}


@require_http_methods(["GET", "POST"])
def switch(request):
    if request.method == "GET":
        return render(request, "demo_site/network.html")
    response = HttpResponseRedirect(request.POST.get("next") or "/accounts/login/")
    if request.POST.get("to") == "another":
        response.set_cookie(COOKIE, f"203.0.113.{random.randint(1, 254)}", samesite="Lax")
    else:
        response.delete_cookie(COOKIE)
    return response
