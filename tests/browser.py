"""Headless Chromium for tests, driven through Playwright.

`open_page(path_or_url)` loads a local file or a URL in a fresh headless
Chromium profile and gives back what a person would notice: errors in the
console, requests that tried to leave the machine (or, for a URL, its
origin), a screenshot, and the answers to JavaScript questions. `chromium()`
gives the browser context itself, for tests that open several pages.

Playwright drives the machine's own Chromium (`executable_path`): no browser
is ever downloaded. Finding it follows one rule: on a laptop without it the
test skips with a reason, but on CI (CI=true) a missing Chromium fails the
test, so a CI machine can never pass by not looking. `make test` installs
Debian's `chromium` first when it can (see the Makefile's setup-chromium).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
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

    page: Any  # playwright.sync_api.Page
    local: tuple[str, ...]  # URL prefixes that are not "leaving the machine"
    errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "assert") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.local):
            self.offsite.append(request.url)

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def wait_until(self, expression: str, timeout: float = 20) -> Any:
        """Wait until a JavaScript expression is truthy; returns its value."""
        try:
            return self.page.wait_for_function(expression, timeout=timeout * 1000, polling=50).json_value()
        except Exception as e:  # playwright's TimeoutError: say what never came true
            raise AssertionError(f"never true within {timeout} s: {expression}") from e

    def screenshot(self, selector: str | None = None, scale: float = 1.0) -> bytes:
        """A PNG of the whole page, or of the element `selector` names (at `scale`)."""
        if selector is None:
            return self.page.screenshot(full_page=True)
        if scale == 1.0:
            return self.page.locator(selector).screenshot()
        box = self.page.locator(selector).bounding_box()
        # Chromium scales the clip itself; Playwright has no per-shot scale.
        cdp = self.page.context.new_cdp_session(self.page)
        try:
            data = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                       "clip": {**box, "scale": scale}})["data"]
        finally:
            cdp.detach()
        return base64.b64decode(data)


@contextmanager
def chromium(width: int = 1300, height: int = 1000, bypass_csp: bool = False) -> Iterator[Any]:
    """A fresh headless Chromium (the machine's own, through Playwright): its
    browser context, closed afterwards with every process it started.
    `bypass_csp` lets the test's own waits (which Playwright evaluates as
    code) run on a page whose Content-Security-Policy forbids eval."""
    binary = require_chromium()
    from playwright.sync_api import sync_playwright  # a test dependency only

    # Chromium's helper processes may still write into the profile for a
    # moment after the browser exits: whatever still runs from this profile
    # is stopped, and a leftover file in it is no reason to fail a test.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        try:
            with sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    profile, executable_path=binary, headless=True, args=FLAGS,
                    viewport={"width": width, "height": height}, device_scale_factor=1,
                    bypass_csp=bypass_csp)
                try:
                    yield context
                finally:
                    context.close()
        finally:
            stop_leftovers(profile)


@contextmanager
def open_page(target: Path | str, width: int = 1300, height: int = 1000) -> Iterator[Page]:
    """Open a local file (Path) or a URL (str) in a fresh headless Chromium."""
    with chromium(width, height) as context:
        if isinstance(target, Path):
            url, local = target.resolve().as_uri(), ("file:", "data:", "blob:", "about:")
        else:
            url = target
            local = (target.split("/", 3)[0] + "//" + target.split("/", 3)[2] + "/", "data:", "blob:", "about:")
        page = Page(context.pages[0] if context.pages else context.new_page(), local)
        page.page.goto(url, wait_until="load")
        yield page


def stop_leftovers(profile: str) -> list[int]:
    """SIGKILL every process still running with `profile` on its command line
    (a Chromium helper that outlived its browser); returns their pids."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if profile.encode() in argv:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while killed and time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in killed):
        time.sleep(0.05)
    return killed


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
