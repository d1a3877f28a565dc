"""The dashboard's web server: the page, the live state, the buttons.

Written on the standard library's ThreadingHTTPServer rather than Flask:
Flask is only in the agent's optional extra (the engine never imports it,
see tests/unit/test_arrows.py), and the server needs four routes and one
Server-Sent Events stream, which http.server does in a page of code.

GET  /                 the page (static/index.html, dashboard.css, dashboard.js)
GET  /api/info         the controls, scenarios, system and every chart point kept
GET  /api/events       the shared state as Server-Sent Events, at least 4 a second
POST /api/action       {"id": CONTROL, "op": "apply"|"revert"}
POST /api/revert_all   every action in force, breakers off included
POST /api/breakers     {"state": "on"|"off"}
POST /api/scenario     {"name": SCENARIO}
POST /api/save         -> {"run_dir": ...}
POST /api/stop         leave the demo (everything rolled back)

Only loopback callers may POST (or, with a token configured, a caller that
sends it as `Authorization: Bearer TOKEN`). A browser on this machine that
visits another site could still send a loopback POST, so every POST must also
carry the header `X-Chaos-Demo: 1` (a cross-site page cannot add a custom
header without a CORS preflight, which this server never grants), an Origin,
when sent, must be this server's own, and the Host header must name this
server (a DNS-rebinding page names its own host). Refusals are 403 with why.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from chaos.dashboard.feed import Feed
from chaos.dashboard.session import ActionError, DemoSession

HEADER = "X-Chaos-Demo"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
          "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8")}
MAX_BODY = 4096


class DashboardServer:
    """Serves one session's dashboard on 127.0.0.1:`port` (0: a free port)."""

    def __init__(self, session: DemoSession, feed: Feed, port: int = 0, token: str | None = None,
                 on_stop: Callable[[], None] | None = None):
        self.session = session
        self.feed = feed
        self.token = token or None
        self.on_stop = on_stop or session.stop
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="dashboard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (or release the port, if never started); open event streams end with the feed."""
        self.feed.stop()
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()

    def allowed_hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def info(self) -> dict[str, Any]:
        s = self.session
        return {
            "system": s.system.name, "runtime": s.runtime_kind, "rate": s.rate,
            "services": list(s.system.services), "entrypoint": s.system.spec.entrypoint,
            "edges": [{"name": e.name, "source": e.source, "target": e.target, "proxy": e.proxy}
                      for e in s.system.spec.edges],
            "routes": {name: sorted(s.system.depends_on(name) - {s.system.spec.entrypoint}) for name in s.system.routes},
            "controls": [c.as_json() for c in s.controls.values()],
            "scenarios": s.scenarios,
            **self.feed.history_snapshot(),
        }

    def act(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Carry out one POST; ActionError for what cannot be done now."""
        s = self.session
        if path == "/api/action":
            op, control = body.get("op"), str(body.get("id", ""))
            if op == "apply":
                return {"done": s.apply(control)}
            if op == "revert":
                return {"done": s.revert(control)}
            raise ActionError(f"op must be apply or revert, not {op!r}")
        if path == "/api/revert_all":
            return {"done": s.revert_all()}
        if path == "/api/breakers":
            return {"done": s.set_breakers(str(body.get("state", "")))}
        if path == "/api/scenario":
            return {"done": s.queue_scenario(str(body.get("name", "")))}
        if path == "/api/save":
            run_dir = s.save()
            return {"done": f"saved to {run_dir}", "run_dir": str(run_dir)}
        if path == "/api/stop":
            self.on_stop()
            return {"done": "stopping: every fault reverted, every service restored"}
        raise LookupError(path)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A page closed mid-answer is no error worth a traceback in the demo's terminal."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    app: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # a request log would drown the demo's own lines

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path in STATIC:
            name, kind = STATIC[path]
            data = resources.files("chaos.dashboard").joinpath("static", name).read_bytes()
            self._send(200, data, kind, cache=False)
        elif path == "/api/info":
            self._json(200, self.app.info())
        elif path == "/api/events":
            self._events()
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        else:
            self._json(404, {"error": f"no page {path}"})

    def do_POST(self) -> None:  # noqa: N802
        why = self._refusal()
        if why:
            self._json(403, {"error": why})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError(f"body over {MAX_BODY} bytes")
            raw = self.rfile.read(length) if length else b"{}"
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as e:
            self._json(400, {"error": f"bad request: {e}"})
            return
        try:
            self._json(200, self.app.act(self.path.split("?", 1)[0], body))
        except LookupError:
            self._json(404, {"error": f"no action {self.path}"})
        except ActionError as e:
            self._json(409, {"error": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as e:  # noqa: BLE001 - the presenter sees why the button did nothing
            self._json(500, {"error": f"{type(e).__name__}: {e}"})

    def _refusal(self) -> str | None:
        """Why this POST may not press a button, or None."""
        app = self.app
        if app.token:
            sent = self.headers.get("Authorization", "")
            token_ok = hmac.compare_digest(sent.encode(), f"Bearer {app.token}".encode())
        else:
            token_ok = False
        if not token_ok and not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return "only loopback callers (or a caller with the demo token) may press buttons"
        if self.headers.get(HEADER) != "1":
            return f"missing header {HEADER}: 1 (a page of another site cannot send it)"
        if self.headers.get("Host") not in app.allowed_hosts():
            return f"Host {self.headers.get('Host')!r} is not this dashboard"
        origin = self.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in app.allowed_hosts():
            return f"cross-site request from {origin} refused"
        return None

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = 0
        try:
            while not self.app.feed.stopped:
                seq, text = self.app.feed.wait(seq, timeout=5.0)
                self.wfile.write(f"id: {seq}\ndata: {text}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page was closed

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, kind: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:")
        if not cache:
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)
