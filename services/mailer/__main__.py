"""`python -m mailer`: the SMTP server (aiosmtpd, its own thread) and the
HTTP listing (werkzeug, threaded) in one process, until SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import threading

from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from mailer import create_app, store


def main() -> None:
    app = create_app()
    host = os.environ.get("HOST", "127.0.0.1")
    smtp_port = int(app.config.get("SMTP_PORT", 5122))
    controller = Controller(store.Handler(app.config["DATABASE"]), hostname=host, port=smtp_port,
                            ready_timeout=10.0)
    controller.start()
    server = make_server(host, int(os.environ["PORT"]), app, threaded=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Its loop looks for shutdown() every poll_interval: 0.5 s by default,
    # which every stop of the mailer waited out.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True)
    thread.start()
    print(f"mailer: SMTP on {host}:{smtp_port}, HTTP on {host}:{server.server_port}", flush=True)
    stop.wait()
    server.shutdown()
    controller.stop()


if __name__ == "__main__":
    main()
