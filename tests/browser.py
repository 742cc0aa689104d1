"""A real browser for tests: Debian's headless Chromium driven by Playwright, and a static HTTP server on 127.0.0.1.

Used by the tests of what people open in a browser (the compare report, packaged HLS/DASH played by real
players). Playwright's own browser download is blocked here, so it drives /usr/bin/chromium
(`apt-get install chromium`; `.ci/run` installs it when missing). Every request the page makes is recorded, so a
test can prove that a page stays offline (no request outside the local server) and that nothing failed.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = os.environ.get("CODECKIT_TEST_CHROMIUM", "/usr/bin/chromium")


def require_browser() -> None:
    """Skip (with the reason) where no browser can run; CI installs both, so there it runs."""
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (in codeckit[test])")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reads the browser's record, not the server's log
        pass

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":  # the browser asks for one by itself; a 404 would read as a page error
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextlib.contextmanager
def serve(folder: str | os.PathLike):
    """Serve `folder` over HTTP on 127.0.0.1 (a free port) for the `with` block; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=os.fspath(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class PageRecord:
    """What the page did: console errors, uncaught exceptions, every request, and the failed ones."""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def external_requests(self, allowed_hosts: tuple[str, ...] = ("127.0.0.1",)) -> list[str]:
        """Requests that left the machine (anything but data:/blob:/file: URLs and the allowed hosts)."""
        out = []
        for url in self.requests:
            u = urlparse(url)
            if u.scheme in ("data", "blob", "file", "about", "chrome-error"):
                continue
            if u.hostname not in allowed_hosts:
                out.append(url)
        return out


@contextlib.contextmanager
def browser_page(viewport: tuple[int, int] = (1280, 900)):
    """A fresh headless Chromium page; yields (page, PageRecord). Calls require_browser() first."""
    require_browser()
    from playwright.sync_api import sync_playwright

    record = PageRecord()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("console", lambda m: record.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: record.page_errors.append(str(e)))
            page.on("request", lambda r: record.requests.append(r.url))
            page.on("requestfailed", lambda r: record.failed_requests.append(f"{r.url}: {r.failure}"))
            yield page, record
        finally:
            browser.close()


def artefact_dir() -> Path:
    """Where tests keep what a person may want to look at (screenshots): $CODECKIT_TEST_ARTEFACTS or
    ./test-artefacts."""
    d = Path(os.environ.get("CODECKIT_TEST_ARTEFACTS", "test-artefacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d
