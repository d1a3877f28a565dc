"""The toolkit's HTTP session lets go of its kept-alive connections on close():
a connection left open keeps a gunicorn service lingering when it is stopped."""

import threading
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from chaos.clients.http import Session

from ..servers import serving


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep the connection open after answering
    ended = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def finish(self) -> None:
        super().finish()
        type(self).ended.set()  # the client closed its end: the handler's read saw EOF

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _KeepAlive.ended = threading.Event()
    with serving(_KeepAlive) as address:
        yield f"http://{address}/"


def _pools(session: requests.Session) -> list:
    manager = session.adapters["http://"].poolmanager
    return [manager.pools.get(key) for key in manager.pools.keys()]


@pytest.mark.parametrize("kind", [Session, requests.Session])
def test_close_ends_the_kept_alive_connection_even_while_its_pool_is_referenced(server, kind):
    session = kind()
    assert session.get(server, timeout=2).text == "ok"
    assert not _KeepAlive.ended.wait(0.3), "the connection should be kept alive until the session closes"
    # Something still holds the pool, as a traceback in a reference cycle does
    # after a request to a killed service: garbage collection cannot close it.
    held = _pools(session)
    session.close()
    ended = _KeepAlive.ended.wait(1)
    if kind is Session:
        assert ended, "the server still holds the connection after Session.close()"
    else:
        # Why ours exists: requests' own close leaves the connection to the
        # pool's garbage collection. If this starts failing, urllib3 closes
        # pools again and chaos.clients.http can go.
        assert not ended
    del held


def test_a_closed_session_can_still_be_used(server):
    session = Session()
    session.get(server, timeout=2)
    session.close()
    assert session.get(server, timeout=2).status_code == 200  # as requests' own session allows
    session.close()


def test_it_is_a_requests_session():
    assert isinstance(Session(), requests.Session)
