"""The headless-browser harness (tests/browser.py), proven on a tiny Textual app.

A helper script serves the app with textual-serve on a free 127.0.0.1 port, in a page whose
template has textual-serve's Google Fonts link replaced by its own bundled Roboto Mono: the
page must then make no request off loopback. A plain local page that asks for two outside URLs
proves the request recorder can fail. Frame encoding and key events are checked without a
browser against reimplementations written here.
"""

from __future__ import annotations

import functools
import http.server
import re
import shlex
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import (
    Chromium,
    Served,
    encode_frame,
    free_port,
    key_event,
    mask_payload,
    require_browser_stack,
    serving,
)

TINY_APP = '''
"""Shows "hello", then "paused" after space; echoes every key and its own size."""
from textual.app import App
from textual.widgets import Label


class Tiny(App):
    BINDINGS = [("space", "pause", "Pause")]

    def compose(self):
        yield Label("hello", id="state")
        yield Label("no key yet", id="key")
        yield Label("", id="size")

    def on_resize(self, event):
        self.query_one("#size", Label).update(f"size={event.size.width}x{event.size.height}")

    def on_key(self, event):
        self.query_one("#key", Label).update(f"key={event.key}")

    def action_pause(self):
        self.query_one("#state", Label).update("paused")


if __name__ == "__main__":
    Tiny().run()
'''

SERVE_SCRIPT = """
import sys
from textual_serve.server import Server

port, command, templates = int(sys.argv[1]), sys.argv[2], sys.argv[3]
Server(command, host="127.0.0.1", port=port, title="tiny", templates_path=templates).serve()
"""

# textual-serve 1.1.3's page links https://fonts.googleapis.com/css?family=Roboto%20Mono;
# its static folder already holds the font, so the page can load it from the server instead.
GOOGLE_FONTS_LINK = re.compile(
    r'\s*<link\s+rel="stylesheet"\s+href="https://fonts\.googleapis\.com[^>]*>'
)
LOCAL_FONT = """
    <style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
      }
    </style>"""


def write_offline_template(folder: Path) -> Path:
    """textual-serve's own app_index.html with the Google Fonts link swapped for the local font."""
    import textual_serve

    stock = Path(textual_serve.__file__).parent / "templates" / "app_index.html"
    html, count = GOOGLE_FONTS_LINK.subn(LOCAL_FONT, stock.read_text(encoding="utf-8"))
    assert count == 1, "textual-serve's template changed: look again for outside requests"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app_index.html").write_text(html, encoding="utf-8")
    return folder


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's signature and IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    require_browser_stack()
    with Chromium(viewport=(1280, 800)) as browser:
        yield browser


@pytest.fixture
def tiny_app_served(tmp_path: Path) -> Iterator[Served]:
    require_browser_stack("textual_serve")
    app = tmp_path / "tiny_app.py"
    app.write_text(TINY_APP, encoding="utf-8")
    script = tmp_path / "serve_tiny.py"
    script.write_text(SERVE_SCRIPT, encoding="utf-8")
    templates = write_offline_template(tmp_path / "templates")
    port = free_port()
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(app))}"
    argv = [sys.executable, str(script), str(port), command, str(templates)]
    with serving(argv, port, cwd=tmp_path) as served:
        yield served


def test_served_app_is_read_and_driven_through_the_browser(
    chromium: Chromium, tiny_app_served: Served, tmp_path: Path
) -> None:
    page = chromium.new_page()
    try:
        page.navigate(tiny_app_served.url)
        page.wait_for_text("hello")
        screen = page.screen_text()
        assert screen is not None and "paused" not in screen

        # xterm.js's size (read in the page) must be the size the app was told (drawn by it)
        size = page.terminal_size()
        assert size is not None and size[0] > 80 and size[1] > 24, size
        page.wait_for_text(f"size={size[0]}x{size[1]}", timeout=5)

        # the keys the dashboard uses, as Textual names them
        for key, textual_name in [
            ("a", "a"), ("A", "A"), ("?", "question_mark"), ("enter", "enter"),
            ("escape", "escape"), ("ctrl+x", "ctrl+x"),
        ]:  # fmt: skip
            page.press(key)
            page.wait_for_text(f"key={textual_name}\n", timeout=5)

        page.press("space")
        page.wait_for_text("paused", timeout=5)
        screen = page.screen_text()
        assert screen is not None and "key=space" in screen
        assert "hello" not in screen, "the text read is the live screen, not its history"

        shot = page.screenshot(tmp_path / "tiny-app.png")
        assert png_size(shot) == chromium.viewport

        everything = "\n".join(page.requests)
        outside = page.outside_requests()
        assert outside == [], f"requests off 127.0.0.1: {outside}; all requests:\n{everything}"
        # the recorder saw the page's own traffic, so the empty list above means something
        origin = tiny_app_served.url.rstrip("/")
        assert f"{origin}/" in page.requests
        assert f"{origin}/static/js/textual.js" in page.requests
        websocket = origin.replace("http://", "ws://", 1) + "/ws?"
        assert any(url.startswith(websocket) for url in page.requests), everything
    finally:
        page.close()


def test_request_recorder_lists_what_leaves_loopback(chromium: Chromium, tmp_path: Path) -> None:
    (tmp_path / "local.js").write_text("document.title = 'local';", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<!DOCTYPE html><html><head>"
        '<link rel="stylesheet" href="http://outside.invalid/style.css">'
        '<script src="/local.js"></script></head>'
        '<body><img src="https://cdn.outside.invalid/pixel.png"></body></html>',
        encoding="utf-8",
    )
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)
    )  # fmt: skip
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    page = chromium.new_page()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        page.navigate(f"{base}/page.html")
        assert page.evaluate("document.title") == "local"
        assert sorted(page.outside_requests()) == [
            "http://outside.invalid/style.css",
            "https://cdn.outside.invalid/pixel.png",
        ]
        assert f"{base}/local.js" in page.requests
        allowed = ("127.0.0.1", "outside.invalid", "cdn.outside.invalid")
        assert page.outside_requests(allowed_hosts=allowed) == []
    finally:
        page.close()
        server.shutdown()
        server.server_close()


# --- without a browser ------------------------------------------------------------------------


def decode_client_frame(frame: bytes) -> tuple[int, bool, bytes]:
    """A plain reading of RFC 6455 5.2, byte by byte: (opcode, fin, unmasked payload)."""
    fin, opcode = bool(frame[0] & 0x80), frame[0] & 0x0F
    assert frame[1] & 0x80, "a client frame must be masked"
    n, at = frame[1] & 0x7F, 2
    if n == 126:
        n, at = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, at = int.from_bytes(frame[2:10], "big"), 10
    mask, body = frame[at : at + 4], frame[at + 4 :]
    assert len(body) == n
    return opcode, fin, bytes(byte ^ mask[i % 4] for i, byte in enumerate(body))


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70001])
def test_frames_decode_to_what_was_sent(size: int) -> None:
    payload = bytes((i * 7 + 3) % 256 for i in range(size))
    mask = b"\x9a\x00\xff\x31"
    frame = encode_frame(0x1, payload, mask)
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(frame) == header + 4 + size
    assert decode_client_frame(frame) == (0x1, True, payload)
    assert mask_payload(mask_payload(payload, mask), mask) == payload


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("space", {"type": "keyDown", "key": " ", "code": "Space", "windowsVirtualKeyCode": 32,
                   "modifiers": 0, "text": " "}),
        ("a", {"type": "keyDown", "key": "a", "code": "KeyA", "windowsVirtualKeyCode": 65,
               "modifiers": 0, "text": "a"}),
        ("A", {"type": "keyDown", "key": "A", "code": "KeyA", "windowsVirtualKeyCode": 65,
               "modifiers": 8, "text": "A"}),
        ("7", {"type": "keyDown", "key": "7", "code": "Digit7", "windowsVirtualKeyCode": 55,
               "modifiers": 0, "text": "7"}),
        ("enter", {"type": "keyDown", "key": "Enter", "code": "Enter",
                   "windowsVirtualKeyCode": 13, "modifiers": 0, "text": "\r"}),
        ("escape", {"type": "rawKeyDown", "key": "Escape", "code": "Escape",
                    "windowsVirtualKeyCode": 27, "modifiers": 0}),
        ("ctrl+c", {"type": "rawKeyDown", "key": "c", "code": "KeyC",
                    "windowsVirtualKeyCode": 67, "modifiers": 2}),
        ("shift+tab", {"type": "rawKeyDown", "key": "Tab", "code": "Tab",
                       "windowsVirtualKeyCode": 9, "modifiers": 8}),
        ("+", {"type": "keyDown", "key": "+", "code": "", "windowsVirtualKeyCode": 0,
               "modifiers": 0, "text": "+"}),
    ],
)  # fmt: skip
def test_key_events_match_what_chromium_expects(key: str, expected: dict[str, object]) -> None:
    event = key_event(key)
    assert {k: event.get(k) for k in expected} == expected
    assert ("text" in event) == ("text" in expected)


def test_missing_browser_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium"):
        require_browser_stack(executable="/nonexistent/chromium")
    with pytest.raises(pytest.skip.Exception, match="no_such_module_here"):
        require_browser_stack("no_such_module_here", executable=sys.executable)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        require_browser_stack(executable="/nonexistent/chromium")


def test_unknown_key_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        key_event("pagedown")
