"""A small client for Toxiproxy's HTTP API.

Our own because toxiproxy-python 0.1.1 sets no timeout on any call (a hung
server hangs the run, and with it the rollback) and keeps its host in a
class attribute shared by every client. This one is a requests Session with
a timeout on every call, pointed at one server (TOXIPROXY_URL or the system
file), and it acts on named proxies only: it never resets the whole server,
which may hold other people's proxies.
"""

from __future__ import annotations

import os
from typing import Any

import requests

from chaos.clients.http import Session

TIMEOUT = (1.0, 5.0)  # connect, read


class ToxiproxyError(Exception):
    """Toxiproxy refused a request or could not be reached."""


class Toxiproxy:
    def __init__(self, url: str | None = None, timeout: tuple[float, float] = TIMEOUT):
        self.url = (url or os.environ.get("TOXIPROXY_URL") or "http://127.0.0.1:8474").rstrip("/")
        self.timeout = timeout
        self._session = Session()

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, body: Any = None, ok_missing: bool = False) -> Any:
        try:
            resp = self._session.request(method, self.url + path, json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise ToxiproxyError(f"Toxiproxy at {self.url} did not answer {method} {path}: {type(e).__name__}") from e
        if resp.status_code == 404 and ok_missing:
            return None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("error", resp.text)
            except ValueError:
                detail = resp.text
            raise ToxiproxyError(f"Toxiproxy refused {method} {path}: {resp.status_code} {detail}".strip())
        if not resp.content:
            return None
        return resp.json()

    def version(self) -> str:
        """The server's version; raises ToxiproxyError when it does not answer."""
        try:
            resp = self._session.get(self.url + "/version", timeout=self.timeout)
        except requests.RequestException as e:
            raise ToxiproxyError(f"Toxiproxy at {self.url} did not answer: {type(e).__name__}") from e
        try:
            return resp.json().get("version", resp.text)
        except ValueError:
            return resp.text.strip()

    def populate(self, proxies: list[dict[str, Any]]) -> None:
        """Create the proxies, or update them to match (Toxiproxy's /populate)."""
        self._call("POST", "/populate", proxies)

    def proxies(self) -> dict[str, Any]:
        return self._call("GET", "/proxies")

    def proxy(self, name: str) -> dict[str, Any] | None:
        return self._call("GET", f"/proxies/{name}", ok_missing=True)

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        name: str,
        type: str,
        attributes: dict[str, int],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        """Add one toxic. Toxiproxy wants integer attributes; a float is refused here, not there."""
        for key, value in attributes.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"toxic attribute {key} must be an integer, got {value!r}")
        body = {"name": name, "type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        return self._call("POST", f"/proxies/{proxy}/toxics", body)

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, int]) -> None:
        """Change a live toxic's attributes (e.g. a growing latency)."""
        self._call("POST", f"/proxies/{proxy}/toxics/{name}", {"attributes": attributes})

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics") or []

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; one already gone is fine."""
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", ok_missing=True)

    def clean_all(self, names: list[str]) -> tuple[int, list[str]]:
        """`clean` for each of `names`, from one listing of every proxy (with
        its toxics): a clean Toxiproxy costs one request. Returns the toxics
        removed and the proxies that had to be enabled again."""
        listed = (self.proxies() or {}) if names else {}
        removed, enabled = 0, []
        for name in names:
            found = listed.get(name)
            if found is None:
                removed += self.clean(name)  # not listed: let clean() say why
                continue
            for toxic in found.get("toxics") or []:
                self.remove_toxic(name, toxic["name"])
                removed += 1
            if not found.get("enabled", True):
                self.set_enabled(name, True)
                enabled.append(name)
        return removed, enabled

    def clean(self, proxy: str) -> int:
        """Enable the proxy and remove all its toxics; returns how many were removed."""
        removed = 0
        for toxic in self.toxics(proxy):
            self.remove_toxic(proxy, toxic["name"])
            removed += 1
        self.set_enabled(proxy, True)
        return removed
