"""A small driver for headless Chromium, for tests of pages served on 127.0.0.1.

Provides `Chromium` (the browser process and its DevTools connection), `Page` (one tab:
navigate, read the xterm.js terminal's text, press keys, screenshot, every network request
recorded), `serving` (run a server command in its own process group until its port answers),
`free_port`, and `require_browser_stack` (skip locally, fail in CI, when chromium or a needed
module is missing).

It speaks the Chrome DevTools Protocol over a WebSocket written here on the standard library,
so the tests add no dependency. textual-serve draws the terminal with xterm.js on a canvas, so
the text is not in the DOM: a script injected before the page's own captures the xterm
`Terminal` when textual-serve's page assigns it, and the text is read through xterm's public
buffer API (`buffer.active.getLine(y).translateToString()`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"

# As root on this machine: no sandbox, no GPU, and none of Chromium's own traffic to Google.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: no host name but localhost resolves, so a page that asks for an outside
    # resource is recorded (Network.requestWillBeSent) but sends nothing off the machine,
    # not even a DNS query.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
)

# Runs in every document before the page's scripts. textual-serve's textual.js does
# `this.terminal = new Terminal(...)` in its own closure; a setter on Object.prototype sees
# that first assignment, keeps the value as an ordinary own property, and publishes it.
_CAPTURE_TERMINAL = """
(() => {
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    get() { return undefined; },
    set(value) {
      Object.defineProperty(this, "terminal", {
        value, writable: true, configurable: true, enumerable: true,
      });
      if (value && value.buffer && typeof value.write === "function" && !window.__xtermTerminal) {
        window.__xtermTerminal = value;
      }
    },
  });
})();
"""

_SCREEN_TEXT = r"""
(() => {
  const term = window.__xtermTerminal;
  if (!term) return null;
  const buffer = term.buffer.active;
  const lines = [];
  for (let y = 0; y < buffer.length; y++) {
    const line = buffer.getLine(y);
    // Textual paints whole rows with spaces: drop them so the text is what a person reads
    lines.push(line ? line.translateToString(true).replace(/\s+$/, "") : "");
  }
  return lines.join("\n");
})()
"""

_FOCUS_TERMINAL = """
(() => {
  const term = window.__xtermTerminal;
  if (term) { term.focus(); return true; }
  const area = document.querySelector(".xterm-helper-textarea");
  if (area) { area.focus(); return true; }
  return false;
})()
"""

# key name -> (DOM key, DOM code, Windows virtual key code, text it types)
_NAMED_KEYS: dict[str, tuple[str, str, int, str]] = {
    "space": (" ", "Space", 32, " "),
    "enter": ("Enter", "Enter", 13, "\r"),
    "escape": ("Escape", "Escape", 27, ""),
    "tab": ("Tab", "Tab", 9, ""),
    "backspace": ("Backspace", "Backspace", 8, ""),
    "up": ("ArrowUp", "ArrowUp", 38, ""),
    "down": ("ArrowDown", "ArrowDown", 40, ""),
    "left": ("ArrowLeft", "ArrowLeft", 37, ""),
    "right": ("ArrowRight", "ArrowRight", 39, ""),
}
_MODIFIER_BITS = {"alt": 1, "ctrl": 2, "meta": 4, "shift": 8}
_PUNCTUATION_CODES = {
    "-": "Minus", "=": "Equal", "[": "BracketLeft", "]": "BracketRight", ";": "Semicolon",
    "'": "Quote", ",": "Comma", ".": "Period", "/": "Slash", "\\": "Backslash", "`": "Backquote",
}  # fmt: skip


def key_event(key: str) -> dict[str, Any]:
    """The Input.dispatchKeyEvent parameters of pressing `key` (its keyUp drops the text).

    `key` is one character ('a', 'A', '7', '?') or a name from _NAMED_KEYS ('space', 'enter',
    'escape', 'tab', 'backspace', arrows), optionally after modifiers: 'ctrl+c', 'shift+tab'.
    """
    *mods, name = key.split("+") if len(key) > 1 else [key]
    modifiers = 0
    for mod in mods:
        modifiers |= _MODIFIER_BITS[mod.lower()]
    if name.lower() in _NAMED_KEYS:
        dom_key, code, vk, text = _NAMED_KEYS[name.lower()]
    elif len(name) == 1:
        dom_key, text = name, name
        if name.isascii() and name.isalpha():
            code, vk = f"Key{name.upper()}", ord(name.upper())
            if name.isupper():
                modifiers |= _MODIFIER_BITS["shift"]
        elif name.isdigit():
            code, vk = f"Digit{name}", ord(name)
        else:
            code, vk = _PUNCTUATION_CODES.get(name, ""), 0
    else:
        raise ValueError(f"unknown key {key!r}")
    if modifiers & (_MODIFIER_BITS["ctrl"] | _MODIFIER_BITS["alt"] | _MODIFIER_BITS["meta"]):
        text = ""  # a chord types nothing; xterm.js turns ctrl+c into \x03 itself
    event: dict[str, Any] = {
        # "keyDown" with text also fires keypress/input; "rawKeyDown" is a bare key
        "type": "keyDown" if text else "rawKeyDown",
        "key": dom_key,
        "code": code,
        "windowsVirtualKeyCode": vk,
        "nativeVirtualKeyCode": vk,
        "modifiers": modifiers,
    }
    if text:
        event["text"] = event["unmodifiedText"] = text
    return event


# Network.enable reports every WebSocket frame and received chunk, with payloads: a dashboard
# streams many a second, and no test needs them, so they are not kept.
_UNRECORDED_EVENTS = frozenset(
    {"Network.webSocketFrameReceived", "Network.webSocketFrameSent", "Network.dataReceived"}
)


class DevToolsError(RuntimeError):
    """A DevTools command answered with an error, or the browser went away."""


# --- a minimal RFC 6455 WebSocket client (text frames, client-side masking) -----------------


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the 4-byte `mask` repeated (RFC 6455 5.3); it is its own inverse."""
    n = len(payload)
    repeated = (mask * (n // 4 + 1))[:n]
    # one big-integer XOR instead of a per-byte Python loop: screenshots are megabytes
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final client frame: FIN + opcode, masked length (7, 16 or 64 bits), mask, payload."""
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 1 << 16:
        length = bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        length = bytes([0x80 | 127]) + struct.pack(">Q", n)
    return bytes([0x80 | opcode]) + length + mask + mask_payload(payload, mask)


class _WebSocket:
    """Just enough WebSocket for DevTools: Chromium accepts clients that send no Origin."""

    _GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._sock.sendall(request.encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._recv_some()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise DevToolsError(f"WebSocket handshake refused: {lines[0]!r}")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        expected = base64.b64encode(hashlib.sha1((key + self._GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise DevToolsError("WebSocket handshake: wrong Sec-WebSocket-Accept")
        self._sock.settimeout(None)  # the reader thread blocks; close() unblocks it
        self._send_lock = threading.Lock()

    def _recv_some(self) -> bytes:
        data = self._sock.recv(1 << 16)
        if not data:
            raise ConnectionError("WebSocket closed by the browser")
        return data

    def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._buffer += self._recv_some()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        frame = encode_frame(opcode, payload, os.urandom(4))
        with self._send_lock:
            self._sock.sendall(frame)

    def send_text(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def receive_text(self) -> str:
        """The next whole text message (continuation frames joined, pings answered)."""
        parts: list[bytes] = []
        while True:
            first, second = self._read_exactly(2)
            fin, opcode = first & 0x80, first & 0x0F
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read_exactly(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read_exactly(8))
            mask = self._read_exactly(4) if second & 0x80 else b""
            payload = self._read_exactly(n)
            if mask:  # servers never mask, but the RFC allows reading it
                payload = mask_payload(payload, mask)
            if opcode == 0x8:
                raise ConnectionError("WebSocket closed by the browser")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(0x8, b"")
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


# --- the DevTools connection ------------------------------------------------------------------


class _DevTools:
    """One browser-level DevTools socket; pages talk through it with flattened sessions."""

    def __init__(self, url: str) -> None:
        self._ws = _WebSocket(url)
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._responses: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # events in arrival order, less _UNRECORDED_EVENTS
        self.closed = False
        self._reader = threading.Thread(target=self._read_forever, name="devtools", daemon=True)
        self._reader.start()

    def _read_forever(self) -> None:
        try:
            while True:
                message = json.loads(self._ws.receive_text())
                with self._cond:
                    if "id" in message:
                        self._responses[message["id"]] = message
                    elif message.get("method") not in _UNRECORDED_EVENTS:
                        self.events.append(message)
                    self._cond.notify_all()
        except (OSError, ConnectionError, ValueError):
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session_id: str | None = None,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its answer (the `result` object)."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        self._ws.send_text(json.dumps(message))
        deadline = time.monotonic() + timeout
        with self._cond:
            while message_id not in self._responses:
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    why = "the browser went away" if self.closed else f"no answer in {timeout} s"
                    raise DevToolsError(f"{method}: {why}")
                self._cond.wait(remaining)
            answer = self._responses.pop(message_id)
        if "error" in answer:
            raise DevToolsError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_for_event(
        self, method: str, session_id: str | None, start: int, timeout: float
    ) -> dict[str, Any]:
        """The first `method` event at or after index `start` of `events` (for that session)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = start
            while True:
                for event in self.events[seen:]:
                    if event["method"] == method and event.get("sessionId") == session_id:
                        return event.get("params", {})
                seen = len(self.events)
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    raise DevToolsError(f"no {method} event in {timeout} s")
                self._cond.wait(remaining)

    def close(self) -> None:
        self._ws.close()
        self._reader.join(timeout=5)


# --- one tab ----------------------------------------------------------------------------------


@dataclass
class Page:
    """One browser tab, attached through a flattened DevTools session."""

    devtools: _DevTools
    target_id: str
    session_id: str
    navigated_at: float | None = None  # time.monotonic() when the last navigate() began

    def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """A DevTools command in this tab's session."""
        return self.devtools.call(method, params, session_id=self.session_id, **kw)

    def navigate(self, url: str, timeout: float = 20.0) -> float:
        """Load `url` and wait for its load event; returns the seconds that took."""
        start_index = len(self.devtools.events)
        self.navigated_at = time.monotonic()
        result = self.call("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise DevToolsError(f"navigating to {url}: {result['errorText']}")
        self.devtools.wait_for_event("Page.loadEventFired", self.session_id, start_index, timeout)
        return time.monotonic() - self.navigated_at

    def evaluate(self, expression: str, timeout: float = 15.0) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screen_text(self) -> str | None:
        """The terminal's visible lines joined by newlines; None before xterm.js has started."""
        return self.evaluate(_SCREEN_TEXT)

    def terminal_size(self) -> tuple[int, int] | None:
        """(columns, rows) of the page's xterm.js terminal, or None before it exists."""
        size = self.evaluate(
            "window.__xtermTerminal ? [window.__xtermTerminal.cols, window.__xtermTerminal.rows]"
            " : null"
        )
        return None if size is None else (size[0], size[1])

    def wait_for_screen(
        self,
        predicate: Callable[[str], bool],
        what: str,
        timeout: float = 20.0,
        poll: float = 0.05,
    ) -> float:
        """Wait until `predicate(screen text)` holds; returns seconds since navigate() began.

        Raises TimeoutError naming `what` and showing the last screen, so a failure shows what
        was there instead.
        """
        begun = time.monotonic()
        deadline = begun + timeout
        while True:
            screen = self.screen_text()
            if screen is not None and predicate(screen):
                return time.monotonic() - (self.navigated_at or begun)
            if time.monotonic() >= deadline:
                shown = "xterm.js never started" if screen is None else screen.rstrip()
                raise TimeoutError(f"{what} not on screen after {timeout} s; screen:\n{shown}")
            time.sleep(poll)

    def wait_for_text(self, text: str, timeout: float = 20.0, poll: float = 0.05) -> float:
        """Wait until the terminal shows `text`; returns seconds since navigate() began."""
        return self.wait_for_screen(lambda screen: text in screen, repr(text), timeout, poll)

    def press(self, key: str) -> None:
        """Press and release one key (names as in `key_event`): 'space', 'a', '?', 'ctrl+c'...

        The terminal is focused first, because xterm.js reads keys from its hidden textarea.
        """
        down = key_event(key)
        if not self.evaluate(_FOCUS_TERMINAL):
            raise DevToolsError("no terminal on the page to focus")
        self.call("Input.dispatchKeyEvent", down)
        up = {k: v for k, v in down.items() if k not in ("text", "unmodifiedText")}
        self.call("Input.dispatchKeyEvent", {**up, "type": "keyUp"})

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save what the tab shows as a PNG file (for a person to look at)."""
        data = self.call("Page.captureScreenshot", {"format": "png"}, timeout=30)["data"]
        target = Path(path)
        target.write_bytes(base64.b64decode(data))
        return target

    @property
    def requests(self) -> list[str]:
        """Every URL this tab asked for since it opened: documents, subresources, WebSockets."""
        urls = []
        for event in list(self.devtools.events):
            if event.get("sessionId") != self.session_id:
                continue
            if event["method"] == "Network.requestWillBeSent":
                urls.append(event["params"]["request"]["url"])
            elif event["method"] == "Network.webSocketCreated":
                urls.append(event["params"]["url"])
        return urls

    def outside_requests(self, allowed_hosts: Sequence[str] = ("127.0.0.1",)) -> list[str]:
        """The requests whose host is not one of `allowed_hosts` (data:, blob:, about: are local)."""
        outside = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname not in allowed_hosts:
                outside.append(url)
        return outside

    def close(self) -> None:
        """Close the tab (textual-serve then ends that tab's app process)."""
        with contextlib.suppress(DevToolsError):
            self.devtools.call("Target.closeTarget", {"targetId": self.target_id})


# --- the browser ------------------------------------------------------------------------------


class Chromium:
    """Headless Chromium in its own process group with a fresh profile; use as a context manager.

    `extra_args` go after CHROMIUM_FLAGS; a second --host-resolver-rules replaces the default.
    """

    def __init__(
        self,
        executable: str = CHROMIUM,
        viewport: tuple[int, int] = (1280, 800),
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self.executable = executable
        self.viewport = viewport
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self.profile: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.devtools: _DevTools | None = None
        self._log: Any = None

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the browser and connect to it; port 0 lets Chromium pick a free port."""
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        width, height = self.viewport
        argv = [
            self.executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.profile}",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            *self.extra_args,
            "about:blank",
        ]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True,  # its own process group: close() ends every child with it
        )  # fmt: skip
        try:
            self.devtools = _DevTools(self._wait_for_devtools_url())
        except BaseException:
            self.close()
            raise

    def _wait_for_devtools_url(self) -> str:
        """Chromium writes 'port\\n/devtools/browser/<id>' to DevToolsActivePort when it listens."""
        assert self.profile is not None and self.process is not None
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DevToolsError(
                    f"chromium exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            with contextlib.suppress(OSError):
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            time.sleep(0.05)
        raise DevToolsError(f"chromium wrote no DevToolsActivePort in {self.start_timeout} s")

    def log(self) -> str:
        """What Chromium printed on stdout and stderr so far."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def new_page(self) -> Page:
        """Open a blank tab with request recording on and the terminal capture installed."""
        assert self.devtools is not None, "start() first"
        target_id = self.devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session_id = self.devtools.call(
            "Target.attachToTarget", {"targetId": target_id, "flatten": True}
        )["sessionId"]
        page = Page(self.devtools, target_id, session_id)
        width, height = self.viewport
        # the headless window's inner size is smaller than --window-size: pin the viewport
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        page.call("Page.enable")
        page.call("Network.enable")
        page.call("Page.addScriptToEvaluateOnNewDocument", {"source": _CAPTURE_TERMINAL})
        return page

    def close(self) -> None:
        """End the browser and all its children, and remove the profile."""
        if self.devtools is not None:
            with contextlib.suppress(DevToolsError, OSError):
                self.devtools.call("Browser.close", timeout=3)
            self.devtools.close()
            self.devtools = None
        if self.process is not None:
            _end_process_group(self.process, grace=5.0)
            self.process = None
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None
        if self._log is not None:
            self._log.close()
            self._log = None


# --- servers under test -----------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    """A server process started by `serving`."""

    url: str
    process: subprocess.Popen[bytes]
    _log: Any = field(repr=False)

    def output(self) -> str:
        """Everything the server (and the apps it started) printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


@contextlib.contextmanager
def serving(
    argv: Sequence[str],
    port: int,
    host: str = "127.0.0.1",
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    grace: float = 10.0,
) -> Iterator[Served]:
    """Run `argv` in its own process group until host:port accepts; SIGTERM the group after."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (outlives this block: closed in finally)
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    served = Served(f"http://{host}:{port}/", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{served.output()}")
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listened on {host}:{port} in {timeout} s")
            time.sleep(0.05)
        yield served
    finally:
        _end_process_group(process, grace=grace)
        log.close()


def _end_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process's group, then SIGKILL whatever is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # children (renderers, app processes) may outlive the leader: end the whole group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


# --- skip locally, fail in CI -----------------------------------------------------------------


def require_browser_stack(*modules: str, executable: str = CHROMIUM) -> None:
    """Skip the test when chromium or one of `modules` is missing, unless CI=true (then fail)."""
    import importlib.util

    import pytest

    missing = []
    if not os.access(executable, os.X_OK):
        missing.append(f"{executable} (apt-get install -y chromium chromium-driver)")
    missing += [f"Python module {m}" for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = "browser test needs " + " and ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must install it", pytrace=False)
    pytest.skip(reason)
