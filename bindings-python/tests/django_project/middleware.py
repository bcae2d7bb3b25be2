"""Test-only middleware: which worker process answered (the gunicorn test)."""

from __future__ import annotations

import os
from typing import Callable

from django.http import HttpRequest, HttpResponse


def worker_pid(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["X-Worker-Pid"] = str(os.getpid())
        return response

    return middleware
