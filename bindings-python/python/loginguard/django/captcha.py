"""CAPTCHA verifiers: reCAPTCHA, hCaptcha and Turnstile (standard library HTTP only) and a
test double.

One deadline (``TIMEOUT``) bounds a whole verification: name resolution, connect, TLS, sending
the request and reading the full answer. Any timeout, network error, HTTP error, malformed
answer, or answer for another site (``hostname``) or, on reCAPTCHA v3, another form (``action``)
or a low ``score`` fails closed."""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest
from django.http.request import validate_host
from django.utils.html import format_html
from django.utils.safestring import SafeString

#: Name resolutions that may wait at once (``getaddrinfo`` cannot be interrupted): a resolver
#: that hangs holds these threads, never the worker; more verifications fail at their deadline.
_RESOLVERS = 8
_resolutions = threading.BoundedSemaphore(_RESOLVERS)
_ANSWER_LIMIT = 1 << 16


def _after_fork() -> None:
    # A resolution running in the parent at fork() has no thread in the child to end it.
    global _resolutions
    _resolutions = threading.BoundedSemaphore(_RESOLVERS)


os.register_at_fork(after_in_child=_after_fork)


class _Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left; ``TimeoutError`` once none are."""
        left = self.end - self.clock()
        if left <= 0:
            raise TimeoutError("the CAPTCHA verification ran out of time")
        return left


class _DeadlineSocket(socket.socket):
    """A socket whose every wait ends by the verification's deadline, however the peer trickles."""

    deadline: _Deadline | None = None

    def _arm(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.remaining())

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._arm()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().recv_into(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().send(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self._arm()
        super().sendall(*args, **kwargs)


class _DeadlineSSLSocket(_DeadlineSocket, ssl.SSLSocket):
    """TLS over a deadline socket (``SSLSocket.sendall`` loops over ``send``, armed each time)."""


def _resolve(host: str, port: int, deadline: _Deadline) -> list[Any]:
    """``getaddrinfo`` in a helper thread, waited for until the deadline."""
    slots = _resolutions
    if not slots.acquire(timeout=deadline.remaining()):
        raise TimeoutError("every name resolution slot is taken")
    done = threading.Event()
    outcome: list[Any] = []

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as error:  # handed to the waiting verification
            outcome.append(error)
        finally:
            slots.release()
            done.set()

    try:
        threading.Thread(target=resolve, name="loginguard-captcha-resolve", daemon=True).start()
    except RuntimeError as error:  # no thread to be had
        slots.release()
        raise OSError(f"cannot resolve {host}: {error}") from error
    if not done.wait(deadline.remaining()):
        raise TimeoutError(f"resolving {host} took too long")
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    addresses: list[Any] = outcome[0]
    return addresses


def _connect(host: str, port: int, deadline: _Deadline) -> _DeadlineSocket:
    error: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _name, address in _resolve(host, port, deadline):
        sock = _DeadlineSocket(family, kind, proto)
        sock.deadline = deadline
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(address)
        except OSError as failed:
            sock.close()
            error = failed
            continue
        return sock
    raise error


class _Proxy:
    """An ``http://`` proxy that opens tunnels (``CONNECT``), from ``https_proxy``."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// proxies can tunnel, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.authorization = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    @classmethod
    def for_host(cls, host: str) -> _Proxy | None:
        """The proxy that the environment names for https to ``host`` (``no_proxy`` aside)."""
        url = urllib.request.getproxies().get("https")
        if not url or urllib.request.proxy_bypass(host):
            return None
        return cls(url)

    def tunnel(self, host: str, port: int, deadline: _Deadline) -> _DeadlineSocket:
        sock = _connect(self.host, self.port, deadline)
        try:
            name = host if host.isascii() else host.encode("idna").decode("ascii")
            authority = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
            lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
            if self.authorization:
                lines.append(f"Proxy-Authorization: {self.authorization}")
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
            # Read byte by byte: what follows the proxy's answer is the provider's TLS.
            answer = b""
            while not answer.endswith(b"\r\n\r\n"):
                byte = sock.recv(1)
                if not byte or len(answer) > _ANSWER_LIMIT:
                    raise OSError(f"the proxy {self.host} closed or sent too much")
                answer += byte
            status = answer.split(b" ", 2)
            if len(status) < 2 or status[1] != b"200":
                raise OSError(f"the proxy {self.host} refused the tunnel: {answer[:100]!r}")
        except BaseException:
            sock.close()
            raise
        return sock


class _Connection(http.client.HTTPConnection):
    """``http.client`` speaking HTTP over a deadline socket, TLS when given a context (through
    the environment's ``https_proxy`` when one applies)."""

    def __init__(
        self, host: str, port: int, deadline: _Deadline, tls: ssl.SSLContext | None
    ) -> None:
        self.default_port = http.client.HTTPS_PORT if tls else http.client.HTTP_PORT
        super().__init__(host, port)
        self.deadline = deadline
        self.tls = tls

    def connect(self) -> None:
        if self.tls is None:
            self.sock = _connect(self.host, self.port, self.deadline)
            return
        proxy = _Proxy.for_host(self.host)
        if proxy is None:
            sock = _connect(self.host, self.port, self.deadline)
        else:
            sock = proxy.tunnel(self.host, self.port, self.deadline)
        try:
            sock.settimeout(self.deadline.remaining())  # bounds the whole handshake
            secure = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        assert isinstance(secure, _DeadlineSSLSocket)
        secure.deadline = self.deadline
        self.sock = secure


class CaptchaVerifier(ABC):
    """Reads the solved CAPTCHA's token from the login POST and asks whether it is valid."""

    #: The POST field the widget fills in.
    field: ClassVar[str]

    def token(self, request: HttpRequest) -> str:
        return str(request.POST.get(self.field, ""))

    @abstractmethod
    def verify(self, token: str, remote_ip: str) -> bool:
        """Whether ``token`` is a solved CAPTCHA for a client at ``remote_ip``."""

    @abstractmethod
    def widget(self) -> SafeString:
        """The HTML that shows the CAPTCHA inside the login form."""


class SiteVerify(CaptchaVerifier):
    """The ``siteverify`` protocol shared by reCAPTCHA, hCaptcha and Turnstile: a form POST of
    ``secret``, ``response`` and ``remoteip`` answered by JSON with ``"success": true`` and the
    ``hostname`` the widget was solved on.

    ``timeout`` (seconds) is the deadline for the whole verification. ``hostnames`` are the
    expected hostnames, as patterns like Django's ``ALLOWED_HOSTS`` (``".example.com"`` matches
    its subdomains, ``"*"`` turns the check off); by default ``settings.ALLOWED_HOSTS`` when the
    token is verified (the hosts Django serves the login form on). ``tls_context`` is the
    ``ssl.SSLContext`` for an https ``VERIFY_URL`` (the system's CAs; load another CA into it
    behind a TLS-inspecting proxy). The ``clock`` attribute (monotonic seconds) measures the
    deadline; tests replace it.
    """

    verify_url: ClassVar[str]
    script_url: ClassVar[str]
    widget_class: ClassVar[str]

    def __init__(
        self,
        *,
        secret: str,
        site_key: str = "",
        verify_url: str | None = None,
        timeout: float = 5.0,
        hostnames: Sequence[str] | None = None,
    ) -> None:
        name = type(self).__name__
        if not secret:
            raise ValueError(f"{name} needs a SECRET")
        self.secret = secret
        self.site_key = site_key
        self.url = verify_url or self.verify_url
        parts = urllib.parse.urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{name} VERIFY_URL has a bad port: {self.url!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name} VERIFY_URL must be an http(s) URL, not {self.url!r}")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (http.client.HTTPS_PORT if self._tls else http.client.HTTP_PORT)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = float(timeout)
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ValueError(f"{name} TIMEOUT must be a positive number of seconds")
        if hostnames is not None and (
            not isinstance(hostnames, (list, tuple))
            or not all(isinstance(h, str) and h for h in hostnames)
        ):
            raise ValueError(f"{name} HOSTNAMES must be a list of hostnames")
        self.hostnames = None if hostnames is None else [h.lower() for h in hostnames]
        self.clock: Callable[[], float] = time.monotonic
        self.tls_context = ssl.create_default_context()
        self.tls_context.sslsocket_class = _DeadlineSSLSocket

    def verify(self, token: str, remote_ip: str) -> bool:
        if not token:
            return False
        fields = {"secret": self.secret, "response": token}
        if remote_ip:
            fields["remoteip"] = remote_ip
        try:
            answer = self._ask(fields, _Deadline(self.timeout, self.clock))
        except (OSError, ValueError, http.client.HTTPException):
            # The deadline, refused connections, TLS and HTTP errors, bad JSON.
            return False
        return isinstance(answer, dict) and self.accepts(answer)

    def accepts(self, answer: dict[str, Any]) -> bool:
        """Whether the provider's JSON answer passes the challenge for this site."""
        return answer.get("success") is True and self._expected_hostname(answer.get("hostname"))

    def _expected_hostname(self, hostname: object) -> bool:
        patterns = self.hostnames
        if patterns is None:
            patterns = list(settings.ALLOWED_HOSTS)
            if settings.DEBUG and not patterns:  # as Django's request.get_host() allows
                patterns = [".localhost", "127.0.0.1", "[::1]"]
        if "*" in patterns:
            return True
        if not isinstance(hostname, str) or not hostname:
            return False
        return validate_host(hostname.lower().rstrip("."), patterns)

    def _ask(self, fields: dict[str, str], deadline: _Deadline) -> Any:
        tls = self.tls_context if self._tls else None
        connection = _Connection(self._host, self._port, deadline, tls)
        try:
            connection.request(
                "POST",
                self._target,
                body=urllib.parse.urlencode(fields).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "Connection": "close",
                    "User-Agent": "loginguard",
                },
            )
            with connection.getresponse() as response:
                if response.status != 200:
                    return None
                return json.loads(response.read(_ANSWER_LIMIT))
        finally:
            connection.close()

    def widget(self) -> SafeString:
        return format_html(
            '<script src="{}" async defer></script><div class="{}" data-sitekey="{}"></div>',
            self.script_url,
            self.widget_class,
            self.site_key,
        )


class ReCaptcha(SiteVerify):
    """Google reCAPTCHA (v2 checkbox or invisible, or v3). A v3 answer (one that carries a
    ``score`` or an ``action``) passes only with ``action`` equal to ``action`` and ``score`` at
    least ``min_score``."""

    field = "g-recaptcha-response"
    verify_url = "https://www.google.com/recaptcha/api/siteverify"
    script_url = "https://www.google.com/recaptcha/api.js"
    widget_class = "g-recaptcha"

    def __init__(self, *, action: str = "login", min_score: float = 0.5, **options: Any) -> None:
        super().__init__(**options)
        if not isinstance(action, str) or not action:
            raise ValueError("ReCaptcha ACTION must be a non-empty string")
        if isinstance(min_score, bool) or not isinstance(min_score, (int, float)):
            raise ValueError("ReCaptcha MIN_SCORE must be a number from 0.0 to 1.0")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError("ReCaptcha MIN_SCORE must be a number from 0.0 to 1.0")
        self.action = action
        self.min_score = float(min_score)

    def accepts(self, answer: dict[str, Any]) -> bool:
        if not super().accepts(answer):
            return False
        if "score" not in answer and "action" not in answer:
            return True  # v2
        score = answer.get("score")
        return (
            answer.get("action") == self.action
            and isinstance(score, (int, float))
            and not isinstance(score, bool)
            and score >= self.min_score
        )


class HCaptcha(SiteVerify):
    """hCaptcha."""

    field = "h-captcha-response"
    verify_url = "https://api.hcaptcha.com/siteverify"
    script_url = "https://js.hcaptcha.com/1/api.js"
    widget_class = "h-captcha"


class Turnstile(SiteVerify):
    """Cloudflare Turnstile."""

    field = "cf-turnstile-response"
    verify_url = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    script_url = "https://challenges.cloudflare.com/turnstile/v0/api.js"
    widget_class = "cf-turnstile"


class StaticCaptcha(CaptchaVerifier):
    """A test double: the challenge is passed by typing the configured secret."""

    field = "loginguard-captcha"

    def __init__(self, *, secret: str, **_ignored: object) -> None:
        if not secret:
            raise ValueError("StaticCaptcha needs a SECRET")
        self.secret = secret

    def verify(self, token: str, remote_ip: str) -> bool:
        return bool(token) and token == self.secret

    def widget(self) -> SafeString:
        return format_html(
            '<label>CAPTCHA: <input type="text" name="{}" autocomplete="off"></label>', self.field
        )
