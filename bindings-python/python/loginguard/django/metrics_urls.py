"""The guard's Prometheus metrics as a URL to mount (needs ``prometheus_client``)::

    urlpatterns = [..., path("metrics/", include("loginguard.django.metrics_urls"))]

The page tells anyone who reaches it how busy your logins are and how many are refused:
serve it only to your Prometheus (a private network or the proxy's access rules), or set
``LOGINGUARD["METRICS_TOKEN"]`` and configure the scrape job with that bearer token.
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from loginguard.django import conf
from loginguard.prometheus import LoginGuardCollector

__all__ = ["metrics", "urlpatterns"]


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics of this process's guard (``get_guard()``), in the format the scraper asks
    for (Prometheus text, or OpenMetrics)."""
    token = conf.options().get("METRICS_TOKEN")
    if token and not _authorized(request, str(token)):
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    registry.register(LoginGuardCollector(conf.get_guard))
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)


urlpatterns = [path("", metrics, name="loginguard-metrics")]
