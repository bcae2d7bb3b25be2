"""A local test CAPTCHA that speaks Cloudflare Turnstile's protocol, for the example sites.

No network: the widget script, the tokens and ``siteverify`` are all served from 127.0.0.1.

- ``GET /api.js``: the widget. Every ``<div class="cf-turnstile">`` gets an "I am human"
  checkbox; ticking it fetches a token and puts it in a hidden ``cf-turnstile-response``
  field, as Turnstile's own widget does.
- ``POST /token``: issues a one-time token for the hostname the widget was solved on.
- ``POST /siteverify`` (form fields ``secret``, ``response``, ``remoteip``): Turnstile's
  answer, ``{"success": true, "hostname": ...}`` for a token issued here and not used
  before, with the right secret; ``{"success": false, "error-codes": [...]}`` otherwise.

    python examples/local-captcha/server.py --port 8001 --secret local-test-secret
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WIDGET_JS = r"""
(function () {
  var origin = new URL(document.currentScript.src).origin;
  function render(box) {
    if (box.dataset.rendered) return;
    box.dataset.rendered = "1";
    var label = document.createElement("label");
    label.className = "local-captcha";
    label.style.cssText = "display:inline-flex;gap:.5em;align-items:center;padding:.6em 1em;" +
      "border:1px solid #999;border-radius:4px;background:#f7f7f7;font:14px sans-serif";
    var tick = document.createElement("input");
    tick.type = "checkbox";
    tick.id = "local-captcha-checkbox";
    var text = document.createElement("span");
    text.textContent = "I am human (local test CAPTCHA)";
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = box.dataset.responseFieldName || "cf-turnstile-response";
    label.append(tick, text);
    box.append(label, field);
    tick.addEventListener("change", function () {
      if (!tick.checked) { field.value = ""; return; }
      tick.disabled = true;
      fetch(origin + "/token", { method: "POST", body: location.hostname })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          field.value = answer.token;
          text.textContent = "Verified (local test CAPTCHA)";
          label.classList.add("solved");
        });
    });
  }
  function renderAll() { document.querySelectorAll(".cf-turnstile").forEach(render); }
  function reset() {
    document.querySelectorAll(".cf-turnstile").forEach(function (box) {
      box.replaceChildren();
      delete box.dataset.rendered;
      render(box);
    });
  }
  // The part of Turnstile's own API that a login page uses: a token passes once.
  window.turnstile = { render: renderAll, reset: reset };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderAll);
  else renderAll();
})();
"""

TOKEN_LIFETIME_S = 300  # as Turnstile's


class Captcha:
    """The issued tokens: each passes ``siteverify`` once, within its lifetime."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.tokens: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def issue(self, hostname: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = (hostname, time.monotonic())
        return token

    def verify(self, secret: str, token: str) -> dict[str, object]:
        if secret != self.secret:
            return {"success": False, "error-codes": ["invalid-input-secret"]}
        with self.lock:
            issued = self.tokens.pop(token, None)
        if issued is None or time.monotonic() - issued[1] > TOKEN_LIFETIME_S:
            return {"success": False, "error-codes": ["invalid-input-response"]}
        return {
            "success": True,
            "hostname": issued[0],
            "challenge_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "error-codes": [],
        }


def handler(captcha: Captcha) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, value: object) -> None:
            self._send(200, json.dumps(value).encode(), "application/json")

        def _body(self) -> str:
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 16)
            return self.rfile.read(length).decode("utf-8", "replace")

        def do_OPTIONS(self) -> None:
            # CORS preflight: the widget's page is on another origin (and may add headers).
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/api.js":
                self._send(200, WIDGET_JS.encode(), "text/javascript")
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            if path == "/token":
                hostname = self._body().strip()[:253] or "localhost"
                self._json({"token": captcha.issue(hostname)})
            elif path == "/siteverify":
                form = urllib.parse.parse_qs(self._body())
                secret = form.get("secret", [""])[0]
                token = form.get("response", [""])[0]
                self._json(captcha.verify(secret, token))
            else:
                self._send(404, b"not found\n", "text/plain")

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the sites' own logs tell the story

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--secret", default="local-test-secret")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Captcha(args.secret)))
    server.daemon_threads = True
    print(f"local CAPTCHA on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
