"""Whether a started service is ready, the same way for every runtime.

A service is ready when its health path answers 200, or, with `health: tcp`
(a unit with no HTTP health, such as Redis), when its port accepts a TCP
connection. Both runtimes ask this through the port the toolkit will use.
"""

from __future__ import annotations

import socket

import requests

from chaos.spec.system import ServiceSpec

TIMEOUT = (0.2, 1.0)


def accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether host:port accepts a TCP connection within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def service_ready(spec: ServiceSpec, http: requests.Session) -> bool:
    """Whether the service answers as its `health` says a ready one does:
    200 on the health path, or (health: tcp) a connection accepted on its port."""
    url = spec.health_url
    if url is None:
        return accepts(spec.host, spec.port)
    try:
        return http.get(url, timeout=TIMEOUT).status_code == 200
    except requests.RequestException:
        return False
