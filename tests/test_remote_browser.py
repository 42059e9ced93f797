"""`rnn-tui serve` in a real headless Chromium (tests/browser.py): the page comes from 127.0.0.1
with no outside request, shows the status and loss panels of a background run, a key press in
the page pauses the run (as `rnn-tui runs --json` sees it), and closing the tab leaves the run
training. Skipped locally without chromium; CI installs it and fails the test if it is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import Chromium, free_port, require_browser_stack, serving
from conftest import make_text

HANG = 60.0
TINY = ("--hidden-size", "16", "--seq-length", "8", "--sample-every", "50")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnn_tui", *args]


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("RNN_TUI_", "TEXTUAL"))}


def run_state(cwd: Path) -> dict:
    result = subprocess.run(
        command("runs", "--json"), cwd=cwd, env=environment(), capture_output=True, text=True,
        timeout=HANG,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    return entry


def wait_for(predicate, timeout: float = HANG) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_the_browser_view_shows_the_run_and_a_key_in_the_page_pauses_it(tmp_path):
    require_browser_stack("textual_serve")
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    run = subprocess.Popen(
        command(
            "train", "corpus.txt", *TINY, "--headless", "--serve", "--quiet",
            "--run-dir", "runs/tiny", "--autosave-seconds", "0",
        ),
        cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert wait_for(lambda: (tmp_path / "runs/tiny/.rnn-tui.sock").exists())
        port = free_port()
        serve = command("serve", "--port", str(port))  # the only live run below runs/
        with (
            serving(serve, port, cwd=tmp_path, env=environment(), timeout=HANG) as served,
            Chromium() as chrome,
        ):
            page = chrome.new_page()
            page.navigate(served.url)
            panels = ("Status", "Loss per char", "Hyperparameters", "Sample", "RUNNING")
            page.wait_for_screen(
                lambda screen: all(p in screen for p in panels), "the panels", HANG
            )
            assert run_state(tmp_path)["viewers"] == 1  # this tab's attach process
            page.press("space")
            page.wait_for_text("PAUSED", timeout=HANG)
            assert wait_for(lambda: run_state(tmp_path)["state"] == "paused")
            page.screenshot(tmp_path / "browser-view.png")
            assert page.outside_requests() == [], page.requests
            assert f"127.0.0.1:{port}" in page.requests[0], page.requests
            page.close()  # closing the tab detaches its viewer, never the run
            assert wait_for(lambda: run_state(tmp_path)["viewers"] == 0), served.output()
        entry = run_state(tmp_path)
        assert entry["live"] and entry["state"] == "paused" and run.poll() is None
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(HANG)
    assert run.returncode == 0, run.stderr.read().decode()


def test_serve_refuses_a_port_in_use_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            command("serve", "--port", str(port)), cwd=tmp_path, env=environment(),
            capture_output=True, text=True, timeout=HANG,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"rnn-tui: error: port {port} on 127.0.0.1 is in use; choose another with --port"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.1.2.3", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("myhost", False)],
)  # fmt: skip
def test_only_loopback_hosts_are_served_without_a_warning(host, loopback):
    from rnn_tui.tui.subcommands.serve import is_loopback

    assert is_loopback(host) is loopback


def test_the_page_template_renders_and_names_no_other_host():
    """rnn-tui's own template (shipped as package data) renders with what textual-serve passes
    and refers to nothing but the server's own static files."""
    import re

    import jinja2

    from rnn_tui.tui.subcommands.serve import TEMPLATES

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    page = env.get_template("app_index.html").render(
        font_size=16,
        app_websocket_url="ws://127.0.0.1:8000/ws",
        config={"static": {"url": "http://127.0.0.1:8000/static/"}},
        application={"name": "rnn-tui: kafka"},
    )
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url\(["']?([^"')]+)""", page)
    found = [a or b for a, b in urls]
    assert found and all(
        u.startswith("http://127.0.0.1:8000/static/") or u == "data:," for u in found
    ), found
    assert (
        'class="textual-terminal"' in page
        and 'data-session-websocket-url="ws://127.0.0.1:8000/ws"' in page
    )
    assert "googleapis" not in page
