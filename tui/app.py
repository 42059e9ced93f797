"""The rnn-tui Textual app and `make_app`, the factory the CLI and the tests both use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from rnn_tui.engine import Trainer

from .dashboard import DashboardScreen

QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
HANG_UP_WAIT = 30.0  # seconds to wait for the training thread to stop after a hang-up


class RnnTuiApp(App[str]):
    """Watch a character-level RNN learn; `run()` returns what to print afterwards."""

    CSS_PATH = "app.tcss"
    TITLE = "rnn-tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit-ctrl-c"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit-ctrl-q"),
    ]

    def __init__(
        self,
        trainer: Trainer,
        *,
        checkpoint_path: Path,
        corpus_lines: Sequence[str] = (),
        start_paused: bool = False,
        metrics_log: Path | None = None,
    ) -> None:
        super().__init__()
        self.trainer = trainer
        self.dashboard = DashboardScreen(
            trainer,
            checkpoint_path=checkpoint_path,
            corpus_lines=corpus_lines,
            start_paused=start_paused,
            metrics_log=metrics_log,
        )
        self.quitting = False
        self._signals: list[int] = []

    def on_mount(self) -> None:
        self.push_screen(self.dashboard)
        loop = asyncio.get_running_loop()
        for number in QUIT_SIGNALS:
            try:
                loop.add_signal_handler(number, self._on_signal, number)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals.append(number)

    def _on_signal(self, number: int) -> None:
        """SIGTERM: save and quit, as `q` does. SIGHUP: the same, without the terminal."""
        self.trainer.stop()  # at once: the training thread stops even before the UI gets to it
        if number == signal.SIGHUP:
            self._hang_up()
        self.run_worker(self.action_quit(), group="quit")

    def _hang_up(self) -> None:
        """The connection dropped: save without touching the screen, then leave at once.

        Textual's output thread dies on the first write to the vanished terminal and its queue
        then blocks every later write, including those of an orderly shutdown, so this saves
        synchronously (the training thread stops within a step) and ends the process.
        """
        _detach_from_terminal()
        deadline = time.monotonic() + HANG_UP_WAIT
        while self.trainer.status not in ("stopped", "diverged") and time.monotonic() < deadline:
            if self.dashboard.run_state == "crashed":
                break
            time.sleep(0.01)
        if self.trainer.status == "stopped" or self.trainer.status == "diverged":
            self.dashboard.save_or_explain()
        os._exit(0)

    async def action_quit(self) -> None:
        """Stop training, save a checkpoint (unless the run failed), exit with how to resume."""
        if self.quitting:
            return
        self.quitting = True
        self.notify("Saving a checkpoint…", title="Quitting", timeout=10)
        message = await self.dashboard.finish()
        self.exit(message)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.remove_signal_handler(number)
        self._signals.clear()
        self.trainer.stop()


def _detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: the terminal is gone, and writes to it would
    fail and stall Textual's output thread before the checkpoint is saved and the app exits."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)


def make_app(
    trainer: Trainer,
    *,
    checkpoint_path: Path,
    corpus_lines: Sequence[str] = (),
    start_paused: bool = False,
    metrics_log: Path | None = None,
) -> RnnTuiApp:
    """The dashboard for an already-built (fresh or resumed) trainer."""
    return RnnTuiApp(
        trainer,
        checkpoint_path=Path(checkpoint_path),
        corpus_lines=corpus_lines,
        start_paused=start_paused,
        metrics_log=Path(metrics_log) if metrics_log else None,
    )
