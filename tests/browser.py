"""Headless Chromium for tests, driven over the DevTools protocol.

`open_page(path)` loads a local file in a fresh Chromium profile and gives
back what a person would notice: errors in the console, requests that tried
to leave the machine, a screenshot, and the answers to JavaScript questions.

Finding Chromium follows one rule: on a laptop without it the test skips
with a reason, but on CI (CI=true) a missing Chromium fails the test, so a
CI machine can never pass by not looking. `make test` installs Debian's
`chromium` first when it can (see the Makefile's setup-chromium).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import signal
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0",
]
CANDIDATES = ["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


def find_chromium() -> str | None:
    """$CHROMIUM if set, else Debian's /usr/bin/chromium, else a Chromium or Chrome on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary; skips the test without one, or fails it on CI."""
    found = find_chromium()
    if found:
        return found
    how = "apt-get install -y chromium (or `make setup-chromium`), or set CHROMIUM=/path/to/chrome"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and no Chromium found: the report render test must run on CI; {how}")
    pytest.skip(f"no Chromium found; {how}")


@dataclass
class Page:
    """A page open in Chromium; `errors` and `offsite` fill while it runs."""

    ws: Any
    errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)
    _id: int = 0

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
        raise TimeoutError(method)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self._event(msg)
            if msg.get("method") == event:
                return msg.get("params", {})
        raise TimeoutError(event)

    def _event(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "blob:", "about:")):
                self.offsite.append(url)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 20) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"never true within {timeout} s: {expression}")

    def screenshot(self, selector: str | None = None, scale: float = 1.0) -> bytes:
        """A PNG of the whole page, or of the element `selector` names."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if selector:
            box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                                " return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()")
            params["clip"] = {**box, "scale": scale}
        return base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])


@contextmanager
def open_page(path: Path, width: int = 1300, height: int = 1000) -> Iterator[Page]:
    """Open a local file in a fresh headless Chromium; stopped by its pid afterwards."""
    import websocket  # websocket-client, a test dependency only

    binary = require_chromium()
    # Chromium's helper processes may still write into the profile for a
    # moment after the browser exits: the whole group is stopped, and a
    # leftover file in the profile is no reason to fail a render test.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            port = _devtools_port(Path(profile), proc)
            target = requests.put(f"http://127.0.0.1:{port}/json/new?about:blank", timeout=10).json()
            ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
            page = Page(ws)
            for domain in ("Runtime", "Log", "Network", "Page"):
                page.send(f"{domain}.enable")
            page.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            page.send("Page.navigate", url=path.resolve().as_uri())
            page.wait_for("Page.loadEventFired")
            yield page
            ws.close()
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the browser and its helpers (its own process group), SIGKILL after 10 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # any helper that outlived the browser
    except ProcessLookupError:
        pass


def _devtools_port(profile: Path, proc: subprocess.Popen) -> int:
    # With --remote-debugging-port=0 Chromium picks a free port and writes it here.
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited with {proc.returncode} before it listened")
        time.sleep(0.05)
    raise TimeoutError("Chromium did not open its DevTools port within 30 s")


def assert_report_renders(report: Path, tmp_path: Path, checks: int) -> list[str]:
    """Open a run's report.html: the plot (request points, breaker bands) and
    the verdict table render, nothing errs or reaches out, and the plot is not
    blank. Returns each verdict row's status as drawn."""
    with open_page(report) as page:
        page.wait_until("document.querySelectorAll('#timeline .main-svg').length >= 1")
        points = page.wait_until("document.querySelectorAll('#timeline .scatterlayer .point').length")
        bands = page.evaluate("document.querySelectorAll('#timeline .barlayer .point').length")
        rows = page.evaluate("[...document.querySelectorAll('#verdicts tbody tr')].map(r => r.className)")
        plot = page.screenshot("#timeline", scale=0.5)
        (tmp_path / "plot.png").write_bytes(plot)
        (tmp_path / "page.png").write_bytes(page.screenshot())  # kept for a person to look at when this fails
        assert page.errors == [], page.errors
        assert page.offsite == [], f"the report tried to reach the network: {page.offsite}"
    assert points > 100, f"only {points} request points drawn"
    assert bands >= 3, "no breaker state bands drawn"
    assert len(rows) == checks and all(r.startswith("verdict ") for r in rows), rows
    covered, colours = ink(plot)
    assert covered > 0.05 and colours > 50, f"the plot looks blank: {covered:.1%} inked, {colours} colours"
    return [r.split(" ")[1] for r in rows]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes): width, height, rows of RGB(A) bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), f"unsupported PNG: depth {depth}, colour type {colour}"
            bpp = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 255
            elif filt == 2:
                line[i] = (line[i] + b) & 255
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def ink(data: bytes) -> tuple[float, int]:
    """How much of a PNG is not near-white, and how many distinct colours it has."""
    width, height, rows = png_pixels(data)
    bpp = len(rows[0]) // width
    inked, colours = 0, set()
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x:x + 3]
            colours.add(px)
            inked += min(px) < 235
    return inked / (width * height), len(colours)
