"""Render a local HTML file in headless system Chromium and report what went wrong.

A helper for tests, not a test file. The page is served from its own folder by a loopback
HTTP server, so relative links resolve as they would on a real site, and every request to any
other host is aborted and reported: a page that needs the network fails here.

    rendered = render(report_html, selectors=["table", "img.curve"])
    assert rendered.problems == []
    assert rendered.elements["img.curve"].loaded

Tests call `browser_or_skip()` first (or use the `render_page` fixture in conftest.py), which
skips with the reason when playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without these the browser phones home (updates, sync, QUIC probes), which this machine refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Per selector: how many elements match, whether all are visible, whether all <img> loaded.
_INSPECT = """els => ({
    count: els.length,
    visible: els.length > 0 && els.every(e => {
        const box = e.getBoundingClientRect();
        return e.checkVisibility({visibilityProperty: true}) && box.width > 0 && box.height > 0;
    }),
    images: els.filter(e => e.tagName === 'IMG').map(e => e.complete && e.naturalWidth > 0),
})"""
_HEADER = """() => {
    const table = document.querySelector('table');
    const row = table && (table.querySelector('thead tr') || table.querySelector('tr'));
    return row ? Array.from(row.cells, c => c.innerText.trim()) : null;
}"""


@dataclass(frozen=True)
class Element:
    """What one CSS selector matched once the page had loaded."""

    count: int  # elements matched
    visible: bool  # at least one matched; every match has a box and no display/visibility hiding
    loaded: bool | None  # every matched <img> decoded (naturalWidth > 0); None: no <img> matched


@dataclass(frozen=True)
class Rendered:
    """Everything collected while the page was open."""

    url: str
    title: str
    table_header: list[str] | None  # cell texts of the first <table>'s header row; None: no table
    elements: dict[str, Element]  # one per selector passed to render()
    console: list[str] = field(default_factory=list)  # "error: text" / "warning: text"
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    failed_requests: list[str] = field(default_factory=list)  # "url: net::ERR_..."
    bad_responses: list[str] = field(default_factory=list)  # "404 url"
    blocked: list[str] = field(default_factory=list)  # requests to non-loopback hosts, aborted

    @property
    def problems(self) -> list[str]:
        """Every error, warning and failed or blocked request, one line each; [] for a clean page."""
        return [
            *(f"console {m}" for m in self.console),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"request failed: {m}" for m in self.failed_requests),
            *(f"HTTP {m}" for m in self.bad_responses),
            *(f"external request blocked: {m}" for m in self.blocked),
        ]


def browser_unavailable() -> str | None:
    """Why render() cannot run here, or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed in this Python: pip install -e '.[test]'"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: install Debian chromium (apt-get install chromium, as root)"
    return None


def browser_or_skip() -> None:
    """Skip the calling test, with the reason, when render() cannot run here."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)


def render(
    html_path: Path,
    *,
    selectors: Sequence[str] = (),
    screenshot: Path | None = None,
    timeout_ms: int = 15_000,
) -> Rendered:
    """Open `html_path` in headless Chromium, wait for load, and return what happened.

    `selectors` are inspected before the page closes (see Element); `screenshot`, when given,
    receives a full-page PNG.
    """
    from playwright.sync_api import sync_playwright

    html_path = Path(html_path).resolve()
    console: list[str] = []
    page_errors: list[str] = []
    failed: list[str] = []
    bad: list[str] = []
    blocked: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if urlsplit(url).hostname in LOOPBACK:
            r.continue_()
        else:
            blocked.append(url)
            r.abort("blockedbyclient")

    def on_console(msg) -> None:
        if msg.type in ("error", "warning"):
            loc = msg.location or {}
            where = f" ({loc.get('url')}:{loc.get('lineNumber')})" if loc.get("url") else ""
            console.append(f"{msg.type}: {msg.text}{where}")

    def on_failed(request) -> None:
        if request.url not in blocked:
            failed.append(f"{request.url}: {request.failure}")

    def on_response(response) -> None:
        if response.status >= 400:
            bad.append(f"{response.status} {response.url}")

    with _serve(html_path.parent) as base, sync_playwright() as pw:
        url = base + quote(html_path.name)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.on("console", on_console)
            page.on("pageerror", lambda exc: page_errors.append(f"{exc.name}: {exc.message}"))
            page.on("requestfailed", on_failed)
            page.on("response", on_response)
            page.goto(url, wait_until="load")
            # Two animation frames: layout is done and late events have reached us.
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            elements = {}
            for selector in selectors:
                got = page.locator(selector).evaluate_all(_INSPECT)
                images = got["images"]
                elements[selector] = Element(got["count"], got["visible"], all(images) if images else None)
            title = page.title()
            header = page.evaluate(_HEADER)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Rendered(url, title, header, elements, console, page_errors, failed, bad, blocked)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 at an ephemeral port; yield the base URL ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
