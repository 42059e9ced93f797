"""Leaving a run training without its terminal: the dashboard's `d` and a dropped connection.

Two kinds of detach, one protocol (`Detacher`):

- `HandOver`, for a run trained in this process: the dashboard stops it (a bit-exact checkpoint
  is saved, as `q` does), then `hand_over` starts `rnn-tui train --resume … --headless --serve`
  in a session of its own with the run folder's locked descriptors (engine/runlock.py: no other
  process can slip in between), waits until it serves the run, and says how to come back.
  Viewers attached meanwhile follow the run to the new process.
- `Leave`, for an attached dashboard (engine/client.py): disconnect; the run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

from rnn_tui.engine.client import RemoteRun
from rnn_tui.engine.control import RunControl
from rnn_tui.engine.runlock import RunLock
from rnn_tui.engine.server import ServedRun

READY_TIMEOUT = 120.0  # seconds for the background process to load the corpus and resume
LOG_NAME = "background.log"


class Detacher(Protocol):
    """How a dashboard leaves its run training when it goes."""

    remote: bool  # True: the run is elsewhere already (leaving is all there is to do)

    def prepare(self, control: RunControl, paused: bool = False) -> None:
        """Called with the app's control before the run stops for a hand-over (`paused`: the
        run was paused, and stays paused where it goes on)."""

    def exit_message(self, message: str) -> str:
        """An attached dashboard's last line after `q` (`message`: the dashboard's own)."""

    def hand_over(self, checkpoint: str | None) -> str:
        """Leave the run training (from `checkpoint`, just saved); the line to print."""


def attach_hint(run_dir: Path) -> str:
    """The command that comes back to a run."""
    return f"rnn-tui attach {shlex.quote(str(run_dir))}"


class HandOver:
    """Moves a run from the dashboard's process to a background process (see module docstring)."""

    remote = False

    def __init__(
        self,
        run_dir: Path,
        checkpoint: Path,
        locks: list[RunLock],
        args: argparse.Namespace,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.checkpoint = Path(checkpoint)
        self.locks = locks
        self.args = args
        self.paused = False
        self.process: subprocess.Popen[bytes] | None = None

    def prepare(self, control: RunControl, paused: bool = False) -> None:
        self.paused = paused
        if isinstance(control, ServedRun):
            control.moving = True  # its viewers reconnect to the background process

    def command(self, checkpoint: str, lock_fds: list[int], ready_fd: int) -> list[str]:
        """The background process's command line: the same run, the same text, these locks."""
        args = self.args
        argv = [sys.executable, "-m", "rnn_tui", "train", "--resume", checkpoint]
        argv += ["--headless", "--serve", "--quiet"]
        argv += ["--run-dir", str(self.run_dir.resolve())]
        argv += ["--checkpoint", str(self.checkpoint.resolve())]
        argv += ["--autosave-seconds", repr(float(getattr(args, "autosave_seconds", 120.0)))]
        argv += ["--log-jsonl", str((self.run_dir / "metrics.jsonl").resolve())]
        for option in ("encoding", "corpus_dir", "threads", "baseline_order"):
            value = getattr(args, option, None)
            if value is not None:
                argv += [f"--{option.replace('_', '-')}", str(value)]
        for flag in ("keep_newlines", "keep_boilerplate"):
            if getattr(args, flag, False):
                argv.append(f"--{flag.replace('_', '-')}")
        if self.paused:
            argv.append("--start-paused")
        for fd in lock_fds:
            argv += ["--inherit-lock", str(fd)]
        argv += ["--ready-fd", str(ready_fd)]
        return argv

    def hand_over(self, checkpoint: str | None) -> str:
        """Start the background process from `checkpoint` and wait until it serves the run."""
        if checkpoint is None:
            return "Nothing was saved, so the run cannot go on in the background."
        resume = f"rnn-tui --resume {shlex.quote(checkpoint)}"
        lock_fds = [lock.inheritable_fd() for lock in self.locks]
        read_end, write_end = os.pipe()
        log_path = self.run_dir / LOG_NAME
        try:
            with open(log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self.command(checkpoint, lock_fds, write_end),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(*lock_fds, write_end),
                    start_new_session=True,  # no terminal: no hang-up, no Ctrl-C of ours
                )
        except OSError as exc:
            os.close(read_end)
            return f"Could not start the background run ({exc}); it is saved: resume with: {resume}"
        finally:
            os.close(write_end)
        for lock in self.locks:
            lock.forget()  # the child holds them now, through the descriptors it inherited
        answer = _read_line(read_end, READY_TIMEOUT)
        os.close(read_end)
        if answer.startswith("ready"):
            return (
                f"Training goes on in the background (process {self.process.pid}). "
                f"Come back with: {attach_hint(self.run_dir)}"
            )
        why = _last_error(log_path) or "it ended before serving the run"
        return (
            f"The background run did not start ({why}; see {log_path}). "
            f"The run is saved: resume with: {resume}"
        )


def _read_line(fd: int, timeout: float) -> str:
    """One line from a pipe within `timeout` ('' at EOF or timeout)."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _last_error(log_path: Path) -> str:
    """The last error line the background process wrote to its log."""
    with contextlib.suppress(OSError):
        with open(log_path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - 4096))
            lines = log.read().decode(errors="replace").splitlines()
        for line in reversed(lines):
            if line.startswith("rnn-tui: error:"):
                return line.removeprefix("rnn-tui: error:").strip()
    return ""


class Leave:
    """An attached dashboard's detach: disconnect, the run goes on."""

    remote = True

    def __init__(self, remote_run: RemoteRun) -> None:
        self.run = remote_run

    def prepare(self, control: RunControl, paused: bool = False) -> None:
        pass

    def exit_message(self, message: str) -> str:
        if self.run.lost is None:
            return message  # the run stopped and saved: where, and how to resume
        step = self.run.last_snapshot.step if self.run.last_snapshot else 0
        return (
            f"Lost the run at step {step:,}: {self.run.lost}. `rnn-tui runs` says whether it "
            "still trains; its latest checkpoint resumes with rnn-tui --resume"
        )

    def hand_over(self, checkpoint: str | None = None) -> str:
        self.run.close()
        return (
            f"Left the run training (process {self.run.pid}). "
            f"Come back with: {attach_hint(self.run.run_dir)}"
        )
