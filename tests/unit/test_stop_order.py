"""`chaos down` on the local runtime stops the services first and what they
hold connections to (Toxiproxy, units with `health: tcp`: databases,
brokers) after them: a service that loses its broker while it stops tries
to reconnect before it ends (the shop's Celery worker took 1.1 s instead of
0.2). Real processes and sockets: a store that accepts connections, and a
service that, asked to stop, first looks whether the store is still there."""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path

from chaos.runtime.local import LocalRuntime
from chaos.spec import load_system

STORE = """
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    s.accept()[0].close()
"""

# Answers /health; on SIGTERM waits 0.3 s (a graceful stop's moment) and
# writes whether the store still accepts a connection, then ends.
SERVICE = """
import http.server, signal, socket, sys, time
port, store, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def stop(*_):
    time.sleep(0.3)
    try:
        socket.create_connection(("127.0.0.1", store), timeout=1).close()
        seen = "store up"
    except OSError:
        seen = "store gone"
    open(out, "w").write(seen)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_services_stop_before_the_store_they_hold(tmp_path: Path):
    store, service = free_port(), free_port()
    seen = tmp_path / "seen"
    (tmp_path / "proxies.json").write_text("[]")
    (tmp_path / "store.py").write_text(STORE)
    (tmp_path / "service.py").write_text(SERVICE)
    (tmp_path / "system.yaml").write_text(textwrap.dedent(f"""\
        name: held
        toxiproxy: {{command: [toxiproxy-server], proxies: proxies.json}}
        services:
          store:
            command: ["{sys.executable}", store.py, "{store}"]
            port: {store}
            health: tcp
          app:
            command: ["{sys.executable}", service.py, "{service}", "{store}", "{seen}"]
            port: {service}
        entrypoint: app
        routes: {{get: {{path: /}}}}
        """))
    runtime = LocalRuntime(load_system(tmp_path / "system.yaml"), tmp_path / "state")
    try:
        runtime.start("store")
        runtime.start("app")
        stopped = runtime.down()
    finally:
        runtime.stop("app")
        runtime.stop("store")
    assert set(stopped) == {"store", "app"}
    assert seen.read_text() == "store up"  # all at once, the store was gone after 0.3 s
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", store)) != 0  # and then it was stopped too
