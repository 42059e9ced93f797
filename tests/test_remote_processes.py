"""Runs that outlive the terminal, with real processes: the dashboard in a pseudo-terminal, the
background process it hands its run to, `rnn-tui runs --json`, `rnn-tui attach`, kill -9.

Each run is a tiny model (hidden 16, windows of 8) on a generated 6,000-character text. Every
wait is for an event (a metrics record, a line on a screen, a state in `runs --json`); the
timeouts only turn a hang into a failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from rnn_tui.engine import Snapshot, Trainer, resume_trainer
from rnn_tui.engine.checkpoint import read_meta
from rnn_tui.engine.client import RemoteRun
from rnn_tui.engine.persistence import saved_settings
from rnn_tui.engine.server import socket_path

TINY = ("--hidden-size", "16", "--seq-length", "8", "--sample-every", "0")
HANG = 60.0


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnn_tui", *args]


@pytest.fixture(autouse=True)
def baseline_cache(tmp_path, monkeypatch):
    """The runs' yardstick tables go to a cache of the test's own, not the user's."""
    monkeypatch.setenv("RNN_TUI_CACHE_DIR", str(tmp_path / "cache"))


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNN_TUI_", "TEXTUAL"))}
    if "RNN_TUI_CACHE_DIR" in os.environ:
        env["RNN_TUI_CACHE_DIR"] = os.environ["RNN_TUI_CACHE_DIR"]
    env.update(TERM="xterm-256color", COLORTERM="truecolor")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


def wait_for(predicate, timeout: float = HANG, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(6000), encoding="utf-8")
    return path


class Terminal:
    """A process on a 120x40 pseudo-terminal, everything it writes read by a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=environment(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master: int | None = master
        self.data = bytearray()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while self.master is not None:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.data.extend(chunk)

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")

    def plain(self) -> str:
        """The text without escape sequences (words a panel drew, the exit line)."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]", "", self.text())

    def wait_for_text(self, text: str, timeout: float = HANG) -> None:
        assert wait_for(lambda: text in self.plain(), timeout), self.plain()[-3000:]

    def type(self, keys: bytes) -> None:
        assert self.master is not None
        os.write(self.master, keys)

    def hang_up(self) -> None:
        """What a dropped SSH link does: the terminal goes away (SIGHUP, then EIO)."""
        master, self.master = self.master, None
        if master is not None:
            os.close(master)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(HANG)
        self.thread.join(5)
        self.hang_up()


def runs_json(cwd: Path, folder: str = "runs") -> list[dict]:
    result = subprocess.run(
        command("runs", folder, "--json"),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def entry(cwd: Path, run_dir: str) -> dict:
    found = [e for e in runs_json(cwd) if Path(e["run_dir"]) == Path(run_dir)]
    assert len(found) == 1, found
    return found[0]


def logged_step(log: Path) -> int:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    for line in reversed(lines):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return int(json.loads(line)["step"])
    return -1


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # (a zombie of ours)
            return False
    return True


@contextlib.contextmanager
def ended_afterwards(pids: list[int]):
    """Whatever a test leaves running (a background run) is killed at the end."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_dashboard(tmp_path: Path, corpus: Path, *extra: str) -> Terminal:
    terminal = Terminal(
        command(str(corpus), *TINY, "--run-dir", "runs/tiny", "--autosave-seconds", "0", *extra),
        tmp_path,
    )
    log = tmp_path / "runs" / "tiny" / "metrics.jsonl"  # the dashboard logs what it shows
    assert wait_for(lambda: logged_step(log) >= 1 or terminal.proc.poll() is not None), (
        terminal.plain()[-3000:]
    )
    assert terminal.proc.poll() is None, terminal.plain()[-3000:]
    return terminal


# -- detach, then attach ---------------------------------------------------------------------------


def test_d_detaches_and_the_run_continues_bit_exactly_with_its_viewer_following(tmp_path, corpus):
    """The dashboard is detached at step N with a viewer attached; the viewer follows the run to
    the background process, which trains on to step N+M and saves when the viewer stops it: its
    parameters equal those of an uninterrupted run of N+M steps, exactly."""
    background: list[int] = []
    with ended_afterwards(background):
        terminal = start_dashboard(tmp_path, corpus)
        run_dir = tmp_path / "runs" / "tiny"
        try:
            viewer = RemoteRun(run_dir)  # the dashboard serves its own run
            assert viewer.pid == terminal.proc.pid
            seen: list = []
            watching = threading.Thread(
                target=lambda: seen.append(viewer.run(seen.append, lambda: False)), daemon=True
            )
            watching.start()
            terminal.type(b"d")
            assert terminal.proc.wait(HANG) == 0, terminal.plain()[-3000:]
            terminal.wait_for_text("Training goes on in the background (process ")
            terminal.wait_for_text(f"Come back with: rnn-tui attach {Path('runs/tiny')}")
        finally:
            terminal.close()
        pid = int(re.search(r"background \(process (\d+)\)", terminal.plain()).group(1))
        background.append(pid)
        detached_at = read_meta(run_dir / "latest.npz")["step"]  # N (autosave is off)
        assert detached_at >= 1
        # the viewer followed: it now hears the background process, which trains on from N
        assert wait_for(lambda: viewer.pid == pid)
        assert wait_for(
            lambda: (
                viewer.last_snapshot is not None and viewer.last_snapshot.step > detached_at + 200
            )
        )
        shown = entry(tmp_path, "runs/tiny")
        assert shown["live"] is True and shown["pid"] == pid and shown["state"] == "running"
        assert shown["viewers"] == 1
        viewer.stop()  # a viewer's q: save and stop
        watching.join(HANG)
        assert seen[-1] == "stopped"
        assert wait_for(lambda: not pid_alive(pid))
        final = read_meta(run_dir / "latest.npz")["step"]  # N + M
        assert final > detached_at + 200
        assert not any(isinstance(e, Snapshot) and e.step < 0 for e in seen)
        assert entry(tmp_path, "runs/tiny")["live"] is False

    # the uninterrupted run: the same settings, N + M steps in one go
    config, _ = saved_settings(run_dir / "latest.npz", read_meta(run_dir / "latest.npz"))
    reference = Trainer(config, corpus.read_text(encoding="utf-8"))
    for _ in range(final):
        reference.train_step()
    resumed = resume_trainer(run_dir / "latest.npz", corpus.read_text(encoding="utf-8"))
    assert resumed.step_count == reference.step_count == final
    for name, value in reference.params.items():
        assert np.array_equal(resumed.params[name], value), name
    assert resumed.smooth.value == reference.smooth.value


def test_sighup_leaves_the_run_training_and_attach_then_shows_it(tmp_path, corpus):
    """A dropped connection (SIGHUP) detaches by default: the step count seen through
    `rnn-tui runs --json` grows after the dashboard has gone, `rnn-tui attach` shows the run,
    and its q stops it with a saved checkpoint."""
    background: list[int] = []
    with ended_afterwards(background):
        terminal = start_dashboard(tmp_path, corpus)
        try:
            terminal.proc.send_signal(signal.SIGHUP)
            assert terminal.proc.wait(HANG) == 0
        finally:
            terminal.close()
        assert wait_for(lambda: entry(tmp_path, "runs/tiny")["live"])
        first = entry(tmp_path, "runs/tiny")
        background.append(first["pid"])
        assert first["pid"] != terminal.proc.pid and first["state"] == "running"
        assert wait_for(lambda: entry(tmp_path, "runs/tiny")["step"] > first["step"] + 100)

        viewer = Terminal(command("attach"), tmp_path)  # the only live run below runs/
        try:
            viewer.wait_for_text("RUNNING")
            viewer.wait_for_text("Loss per char")
            viewer.type(b"q")
            assert viewer.proc.wait(HANG) == 0
            viewer.wait_for_text(f"Saved checkpoint {tmp_path / 'runs/tiny/latest.npz'} at step ")
        finally:
            viewer.close()
        assert wait_for(lambda: not pid_alive(first["pid"]))
        last = entry(tmp_path, "runs/tiny")
        assert last["live"] is False and last["pid"] is None and last["state"] == "stopped"
        assert last["step"] > first["step"]


# -- kill -9 and stale files -----------------------------------------------------------------------


def test_kill_9_of_the_background_run_shows_stopped_and_its_checkpoint_resumes(tmp_path, corpus):
    run = subprocess.Popen(
        command(
            "train", str(corpus), *TINY, "--headless", "--serve", "--quiet",
            "--run-dir", "runs/tiny", "--autosave-seconds", "0.05",
        ),
        cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    with ended_afterwards([run.pid]):
        latest = tmp_path / "runs" / "tiny" / "latest.npz"
        assert wait_for(lambda: latest.exists() and entry(tmp_path, "runs/tiny")["live"])
        assert entry(tmp_path, "runs/tiny")["pid"] == run.pid
        run.send_signal(signal.SIGKILL)
        run.wait(HANG)
        killed = time.monotonic()
        assert wait_for(lambda: entry(tmp_path, "runs/tiny")["live"] is False, timeout=10)
        assert time.monotonic() - killed < 10  # "within a few seconds": at once, in fact
        gone = entry(tmp_path, "runs/tiny")
        assert gone["pid"] is None and gone["state"] == "stopped" and gone["step"] >= 1
        assert socket_path(tmp_path / "runs" / "tiny").exists()  # stale: the kill left it
        table = subprocess.run(
            command("runs"), cwd=tmp_path, env=environment(), capture_output=True, text=True,
            timeout=HANG,
        )  # fmt: skip
        (row,) = [line for line in table.stdout.splitlines() if line.startswith("runs/tiny")]
        assert row.split()[-1] == "stopped" and f"{gone['step']:,}" in row, table.stdout

    # the stale socket blocks nothing: a new served run resumes from the latest checkpoint
    step = read_meta(latest)["step"]
    resumed = subprocess.run(
        command("train", "--resume", str(latest), "--headless", "--serve", "--steps", "20"),
        cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=HANG,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert read_meta(latest)["step"] == step + 20
    assert not socket_path(tmp_path / "runs" / "tiny").exists()


# -- one writer: rnn-tui CORPUS while the run is live ----------------------------------------------


def test_starting_the_same_run_again_says_it_is_live_and_offers_to_attach(tmp_path, corpus):
    run = subprocess.Popen(
        command(
            "train", str(corpus), *TINY, "--headless", "--serve", "--quiet",
            "--run-dir", "runs/tiny", "--autosave-seconds", "0",
        ),
        cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    with ended_afterwards([run.pid]):
        assert wait_for(lambda: (tmp_path / "runs/tiny/.rnn-tui.sock").exists())
        # not on a terminal: one line and exit status 2
        again = subprocess.run(
            command("train", str(corpus), *TINY, "--headless", "--run-dir", "runs/tiny"),
            cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=HANG,
        )  # fmt: skip
        assert again.returncode == 2
        lines = again.stderr.strip().splitlines()
        assert len(lines) == 1, again.stderr
        assert f"runs/tiny is already training (process {run.pid}" in lines[0]
        assert lines[0].endswith("watch it with: rnn-tui attach runs/tiny")
        # on a terminal: asked; "n" starts nothing
        asked = Terminal(command(str(corpus), *TINY, "--run-dir", "runs/tiny"), tmp_path)
        try:
            asked.wait_for_text("Attach to it instead? [Y/n]")
            asked.type(b"n\r")
            assert asked.proc.wait(HANG) == 2
            asked.wait_for_text("Nothing started. Watch it any time with: rnn-tui attach")
        finally:
            asked.close()
        # "y" opens the attached dashboard; its d leaves the run training
        accepted = Terminal(command(str(corpus), *TINY, "--run-dir", "runs/tiny"), tmp_path)
        try:
            accepted.wait_for_text("Attach to it instead? [Y/n]")
            accepted.type(b"y\r")
            accepted.wait_for_text("Loss per char")
            accepted.type(b"d")
            assert accepted.proc.wait(HANG) == 0
            accepted.wait_for_text(f"Left the run training (process {run.pid})")
        finally:
            accepted.close()
        assert run.poll() is None and entry(tmp_path, "runs/tiny")["live"]
        run.send_signal(signal.SIGTERM)  # SIGTERM saves and stops a background run
        assert run.wait(HANG) == 0
    assert entry(tmp_path, "runs/tiny")["state"] == "stopped"


def test_attach_and_serve_with_nothing_live_say_what_to_do_in_one_line(tmp_path, corpus):
    for args in (("attach",), ("serve",), ("attach", "runs/none")):
        result = subprocess.run(
            command(*args), cwd=tmp_path, env=environment(), capture_output=True, text=True,
            timeout=HANG,
        )  # fmt: skip
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("rnn-tui: error: ")


def test_a_paused_run_stays_paused_in_the_background_and_serves_its_yardsticks(tmp_path, corpus):
    import argparse

    from rnn_tui.tui.handover import HandOver

    hand_over = HandOver(
        tmp_path / "run", tmp_path / "run" / "latest.npz", [], argparse.Namespace()
    )
    hand_over.prepare(control=None, paused=True)
    assert "--start-paused" in hand_over.command("ckpt.npz", [], 9)
    hand_over.prepare(control=None, paused=False)
    assert "--start-paused" not in hand_over.command("ckpt.npz", [], 9)

    run = subprocess.Popen(
        command(
            "train", str(corpus), *TINY, "--headless", "--serve", "--quiet", "--start-paused",
            "--run-dir", "runs/tiny", "--autosave-seconds", "0",
        ),
        cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    with ended_afterwards([run.pid]):
        assert wait_for(lambda: (tmp_path / "runs/tiny/.rnn-tui.sock").exists())
        shown = entry(tmp_path, "runs/tiny")
        assert shown["state"] == "paused" and shown["step"] == 0
        viewer = RemoteRun(tmp_path / "runs" / "tiny")
        seen: list = []
        threading.Thread(target=viewer.run, args=(seen.append, lambda: False), daemon=True).start()
        # the background run computes the yardsticks too, and a viewer gets them (replayed, if
        # they were ready before it came)
        assert wait_for(lambda: any(type(e).__name__ == "BaselinesReady" for e in seen))
        viewer.resume()
        assert wait_for(lambda: entry(tmp_path, "runs/tiny")["step"] > 0)
        viewer.stop()
        assert run.wait(HANG) == 0
