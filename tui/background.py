"""A run that outlives its terminal: `rnn-tui train --headless --serve`, the background process.

It trains like a headless run (progress lines, the metrics log, a checkpoint at the end and on
SIGTERM or Ctrl-C) and serves the run on RUN_DIR/.rnn-tui.sock for `rnn-tui attach` and
`rnn-tui serve` (engine/server.py). A hang-up is ignored: the process the dashboard's `d` starts
is in a session of its own, and one started from a shell by hand must survive that shell's
terminal too. It runs under the dashboard's policy (pause, not stop, on a divergence, so a
viewer can roll back).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnn_tui.engine import CheckpointSaved, RunPolicy, Trainer
from rnn_tui.engine.control import LocalRun
from rnn_tui.engine.metrics_log import MetricsLog
from rnn_tui.engine.server import RunServer, ServedRun, ServeError
from rnn_tui.engine.yardsticks import YardstickOptions

from .headless import (
    EXIT_DIVERGED,
    HeadlessReporter,
    describe_model,
    divergence_advice,
    resume_command,
)
from .options import UsageError
from .output import TolerantStream, print_error

SNAPSHOT_INTERVAL = 0.5  # the dashboard repaints its numbers this often: more would be wasted


class BoundedRun(LocalRun):
    """A LocalRun with the headless limits (steps, seconds, epochs), and its yardsticks."""

    def __init__(
        self,
        trainer: Trainer,
        policy: RunPolicy,
        yardsticks: YardstickOptions | None = None,
        **limits: Any,
    ) -> None:
        super().__init__(trainer, policy, yardsticks)
        self.limits = limits

    def train(self, publish: Callable[..., None], should_stop: Callable[[], bool]) -> str:
        return self.trainer.run(publish, should_stop, policy=self.policy, **self.limits)


def run_served(
    trainer: Trainer,
    *,
    run_dir: Path,
    corpus_lines: list[str],
    checkpoint: Path,
    log_path: Path,
    quiet: bool,
    autosave_seconds: float,
    ready_fd: int | None = None,
    yardsticks: YardstickOptions | None = None,
    **limits: Any,
) -> int:
    """Train in this thread and serve the run; return the exit status (as headless runs do)."""
    out = TolerantStream(sys.stdout)
    if not quiet:
        for line in corpus_lines:
            out.write(line + "\n")
        out.write(describe_model(trainer) + "\n")
        out.flush()

    def log_failed(exc: OSError) -> None:
        print_error(f"cannot write {log_path} ({exc.strerror or exc}); training goes on", "warning")

    log = MetricsLog(log_path, log_failed)
    reporter = HeadlessReporter(out, is_tty=False, log=log, quiet=quiet)
    policy = RunPolicy(
        autosave_seconds=autosave_seconds,
        snapshot_interval=SNAPSHOT_INTERVAL,
        on_divergence="pause",
        save_on_exit=True,
    )

    def serving(server: RunServer) -> None:
        out.write(f"serving {server.path} (process {os.getpid()})\n")
        out.flush()
        if ready_fd is not None:  # the dashboard that handed the run over waits for this line
            with contextlib.suppress(OSError):
                os.write(ready_fd, f"ready {os.getpid()}\n".encode())
                os.close(ready_fd)

    served = ServedRun(
        BoundedRun(trainer, policy, yardsticks, **limits),  # viewers see the baselines too
        run_dir,
        notes=tuple(corpus_lines),
        on_serving=serving,
    )

    def request_stop(signum: int, frame: Any) -> None:
        trainer.stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        try:
            reason = served.run(reporter, lambda: False)
        except ServeError as exc:
            raise UsageError(str(exc)) from None
        reporter.finish()
        if reason == "diverged" or trainer.run_state == "diverged":
            failure = reporter.failure.reason if reporter.failure else "training diverged"
            print_error(divergence_advice(trainer, failure))
            return EXIT_DIVERGED
        if not isinstance(reporter.last_save, CheckpointSaved):
            print_error(reporter.last_save.error if reporter.last_save else "nothing was saved")
            return 1
        out.write(f"resume with: {resume_command(checkpoint, headless=False)}\n")
        out.flush()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.close()
