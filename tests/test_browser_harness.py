"""The headless-browser harness (tests/browser.py) catches what it claims to catch."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import browser
import pytest
from browser import Rendered, browser_unavailable

Render = Callable[..., Rendered]  # the render_page fixture (tests/conftest.py)

HEAD = '<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body>'


def png(width: int, height: int) -> bytes:
    """A solid red RGB PNG, built by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def page(tmp_path: Path, body: str, title: str = "t") -> Path:
    path = tmp_path / "index.html"
    path.write_text(HEAD.format(title=title) + body + "</body></html>", encoding="utf-8")
    return path


def test_clean_page_renders_without_problems(tmp_path: Path, render_page: Render) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "curve.png").write_bytes(png(40, 30))
    html = page(
        tmp_path,
        '<h1>Run</h1><img class="curve" src="img/curve.png" alt="curve">'
        '<table><thead><tr><th>arch</th><th> top-1 </th></tr></thead>'
        "<tbody><tr><td>a</td><td>0.9</td></tr></tbody></table>"
        '<p class="gone" style="display:none">x</p>',
        title="HADAS report",
    )
    shot = tmp_path / "shot.png"

    r = render_page(html, selectors=["img.curve", "table", "p.gone", ".absent"], screenshot=shot)

    assert r.problems == []
    assert r.title == "HADAS report"
    assert r.table_header == ["arch", "top-1"]
    curve = r.elements["img.curve"]
    assert (curve.count, curve.visible, curve.loaded) == (1, True, True)
    assert r.elements["table"].visible and r.elements["table"].loaded is None
    assert r.elements["p.gone"].count == 1 and not r.elements["p.gone"].visible
    assert r.elements[".absent"].count == 0 and not r.elements[".absent"].visible
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_console_error_is_caught(tmp_path: Path, render_page: Render) -> None:
    r = render_page(page(tmp_path, "<script>console.error('boom from the page')</script>"))

    assert any("boom from the page" in m and m.startswith("error: ") for m in r.console), r.console
    assert r.problems and r.page_errors == []


def test_uncaught_exception_is_caught(tmp_path: Path, render_page: Render) -> None:
    r = render_page(page(tmp_path, "<script>throw new Error('nobody catches me')</script>"))

    assert any("nobody catches me" in m for m in r.page_errors), r.page_errors
    assert r.problems


def test_missing_image_is_caught(tmp_path: Path, render_page: Render) -> None:
    r = render_page(page(tmp_path, '<img id="lost" src="missing.png" alt="lost">'), selectors=["#lost"])

    assert any(m.startswith("404 ") and m.endswith("/missing.png") for m in r.bad_responses), r.bad_responses
    assert r.elements["#lost"].loaded is False
    assert r.problems


def test_external_request_is_blocked_and_reported(tmp_path: Path, render_page: Render) -> None:
    r = render_page(page(tmp_path, '<script src="https://example.com/x.js"></script><p>hi</p>'))

    assert r.blocked == ["https://example.com/x.js"]
    assert any("example.com/x.js" in p for p in r.problems)
    assert r.failed_requests == []  # reported once, as blocked
    # The browser itself saw the abort (not a DNS or connection failure of a request let through).
    assert any("ERR_BLOCKED_BY_CLIENT" in m for m in r.console), r.console


def test_unavailable_browser_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """Needs no browser: the skip reasons say what to install."""
    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setattr(browser.importlib.util, "find_spec", lambda name: object())
    assert "apt-get install chromium" in browser_unavailable()
    monkeypatch.setattr(browser.importlib.util, "find_spec", lambda name: None)
    assert "playwright is not installed" in browser_unavailable()
