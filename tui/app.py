"""The rnn-tui Textual app; `make_app`, the factory the CLI and the tests both use; `run_app`.

The app holds a RunControl. For a Trainer in this process, `make_app` runs it under the
dashboard's policy: pause (not stop) on a divergence so `r` can roll back, autosave, and a
last checkpoint when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from rnn_tui.engine import RunPolicy, Trainer
from rnn_tui.engine.control import LocalRun, RunControl
from rnn_tui.engine.server import ServedRun
from rnn_tui.engine.yardsticks import YardstickOptions

from .dashboard import NUMBERS_INTERVAL, DashboardScreen
from .handover import Detacher
from .output import TolerantStream

QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
DEFAULT_YARDSTICKS = YardstickOptions()  # baselines to order 5 (uncached) and novelty
HANG_UP_WAIT = 30.0  # seconds to wait for the training thread to save and stop after a hang-up
EXIT_SAVE_FAILED = 1
EXIT_DIVERGED = 3


class RnnTuiApp(App[str]):
    """Watch a character-level RNN learn; `run()` returns what to print afterwards."""

    CSS_PATH = "app.tcss"
    TITLE = "rnn-tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+c",
            "quit",
            "Quit",
            show=False,
            priority=True,
            tooltip="save a checkpoint and quit",
            id="quit-ctrl-c",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            show=False,
            priority=True,
            tooltip="save a checkpoint and quit",
            id="quit-ctrl-q",
        ),
    ]

    def __init__(
        self,
        control: RunControl,
        *,
        corpus_lines: Sequence[str] = (),
        start_paused: bool = False,
        metrics_log: Path | None = None,
        detacher: Detacher | None = None,
        on_hangup: str = "detach",
    ) -> None:
        super().__init__()
        self.control = control
        self.detacher = detacher  # None: `d` is not offered and a hang-up saves and exits
        self.left = False  # an attached dashboard left its run training
        self.on_hangup = on_hangup
        self.dashboard = DashboardScreen(
            control,
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
        """SIGTERM: save and quit, as `q` does. SIGHUP: the same without the terminal, or (with
        `on_hangup` "detach", the default) leave the run training in the background. Signals to
        an attached dashboard end that viewer only: the run goes on."""
        if self.detacher is not None and self.detacher.remote:
            if number == signal.SIGHUP:
                _detach_from_terminal()
                self.control.leave()
                os._exit(0)
            self.run_worker(self.action_detach(), group="quit")
            return
        detach = number == signal.SIGHUP and self.on_hangup == "detach" and self.can_detach
        if detach:
            self.detacher.prepare(self.control, paused=self.dashboard.paused)
        self.control.stop()  # at once: the training thread stops even before the UI gets to it
        if number == signal.SIGHUP:
            self._hang_up(detach)
        self.run_worker(self.action_quit(), group="quit")

    def _hang_up(self, detach: bool = False) -> None:
        """The connection dropped: let the run save and stop without touching the screen, then
        leave at once.

        Textual's output thread dies on the first write to the vanished terminal and its queue
        then blocks every later write, including those of an orderly shutdown, so this waits for
        the training thread (which writes the last checkpoint) and ends the process.
        """
        _detach_from_terminal()
        self.dashboard.ended.wait(HANG_UP_WAIT)
        saved = self.dashboard.final_save
        if detach and self.dashboard.saved:
            self.detacher.hand_over(saved.path)  # the run goes on in a process of its own
        os._exit(0 if self.dashboard.saved else EXIT_SAVE_FAILED)

    @property
    def can_detach(self) -> bool:
        """Whether `d` can leave the run training: there is somewhere for it to go on, and a run
        of this process is healthy enough to be saved and handed over."""
        if self.detacher is None or self.quitting:
            return False
        return self.detacher.remote or self.dashboard.training

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "detach":
            return self.can_detach
        return True

    async def action_detach(self) -> None:
        """Leave the run training without this terminal: where it is (an attached dashboard),
        or saved and handed over to a background process (a run of this process)."""
        if not self.can_detach:
            return
        self.quitting = True
        if self.detacher.remote:
            await self.dashboard.leave()
            self.left = True
            self.exit(self.detacher.hand_over(None))
            return
        self.notify("Saving a checkpoint…", title="Detaching", timeout=10)
        self.detacher.prepare(self.control, paused=self.dashboard.paused)
        message = await self.dashboard.finish()
        if self.dashboard.saved:
            path = self.dashboard.final_save.path
            message = await asyncio.to_thread(self.detacher.hand_over, path)
        self.exit(message)

    async def action_quit(self) -> None:
        """Stop training, save a checkpoint (unless the run failed), exit with how to resume."""
        if self.quitting:
            return
        self.quitting = True
        self.notify("Saving a checkpoint…", title="Quitting", timeout=10)
        message = await self.dashboard.finish()
        if self.detacher is not None and self.detacher.remote:
            message = self.detacher.exit_message(message)  # the run's process may have gone
        self.exit(message)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.remove_signal_handler(number)
        self._signals.clear()
        self.control.leave()  # a run of this process stops; an attached one goes on

    @property
    def exit_status(self) -> int:
        """0 when the run ended saved (or goes on: a viewer that left); 3 after a divergence; 1
        when the last save failed."""
        if self.left:
            return 0
        screen = self.dashboard
        if screen.run_state in ("diverged", "crashed"):
            return EXIT_DIVERGED
        return 0 if screen.saved else EXIT_SAVE_FAILED


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


def dashboard_policy(autosave_seconds: float = 120.0) -> RunPolicy:
    """How a Trainer runs under the dashboard."""
    return RunPolicy(
        autosave_seconds=autosave_seconds,
        # Numbers are repainted at most every NUMBERS_INTERVAL, so more snapshots than that only
        # wake the UI thread, which costs the training thread the GIL (state changes still
        # publish at once).
        snapshot_interval=NUMBERS_INTERVAL,
        on_divergence="pause",
        save_on_exit=True,
    )


def make_app(
    run: Trainer | RunControl,
    *,
    corpus_lines: Sequence[str] = (),
    start_paused: bool = False,
    metrics_log: Path | None = None,
    autosave_seconds: float = 120.0,
    detacher: Detacher | None = None,
    on_hangup: str = "detach",
    serve_dir: Path | None = None,
    yardsticks: YardstickOptions | None = DEFAULT_YARDSTICKS,
) -> RnnTuiApp:
    """The dashboard for a run: a Trainer here (fresh or resumed), or another RunControl.
    With `serve_dir`, a run of this process is served there to `rnn-tui attach` as it trains.
    `yardsticks`: which the workers beside a Trainer compute (None: none; by default baselines
    to order 5, uncached, and the samples' novelty)."""
    policy = dashboard_policy(autosave_seconds)
    control = LocalRun(run, policy, yardsticks) if isinstance(run, Trainer) else run
    if serve_dir is not None:
        # a socket that cannot be made (a read-only folder, say) leaves the run unwatched, not stopped
        control = ServedRun(
            control, serve_dir, notes=tuple(corpus_lines), on_serve_error=lambda exc: None
        )
    return RnnTuiApp(
        control,
        corpus_lines=corpus_lines,
        start_paused=start_paused,
        metrics_log=Path(metrics_log) if metrics_log else None,
        detacher=detacher,
        on_hangup=on_hangup,
    )


def run_app(run: Trainer | RunControl, **options) -> int:
    """Run the dashboard on this terminal; print what the app says at the end; the exit status."""
    # Textual draws on sys.__stderr__ from a writer thread that dies on the first failed write;
    # after a dropped SSH link the app would then block forever on its full queue (possibly before
    # saving). Writes to a terminal that has gone away are dropped instead, so quitting completes.
    terminal = sys.__stderr__
    sys.__stderr__ = TolerantStream(terminal)
    try:
        app = make_app(run, **options)
        message = app.run()
    finally:
        sys.__stderr__ = terminal
    # In a browser tab (textual-serve) stdout is the protocol pipe: nothing may be printed there.
    if message and "web_driver" not in os.environ.get("TEXTUAL_DRIVER", ""):
        out = TolerantStream(sys.stdout)
        out.write(message + "\n")
        out.flush()
    return app.exit_status
