"""Headless training: `rnn-tui train CORPUS --headless`, progress lines for terminals and logs.

On a terminal the progress line is rewritten in place a few times a second; when stdout is a
file or a pipe it prints plain lines every `line_every` seconds instead (no carriage-return spam).
Samples print at most every `sample_every_s` seconds. The metrics log gets a record per
progress line, in the schema the dashboard writes too (engine/metrics_log.py).
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from rnn_tui.engine import (
    CheckpointFailed,
    CheckpointSaved,
    Event,
    RunPolicy,
    SampleReady,
    Snapshot,
    Trainer,
    TrainingFailed,
)
from rnn_tui.engine.events import BaselinesReady, NoveltyMeasured, YardstickUnavailable
from rnn_tui.engine.metrics import nats_to_bits
from rnn_tui.engine.metrics_log import MetricsLog
from rnn_tui.engine.ngram import Baselines
from rnn_tui.engine.yardsticks import YardstickOptions, Yardsticks

from .formatting import format_duration
from .output import TolerantStream, print_error
from .yardsticks import baseline_table, stands

EXIT_DIVERGED = 3


def format_progress(s: Snapshot, baselines: Baselines | None = None) -> str:
    """One compact line: step, epoch, losses in nats and bits, validation (and where it stands
    among the baselines), speed, time."""
    val = f" | val {s.val_loss:.3f}" if s.val_loss is not None else ""
    if val and baselines is not None:
        val += f" ({stands(baselines, s.val_loss)})"
    lr = f" | lr {s.scheduled_learning_rate:.2g}" if s.scheduled_learning_rate is not None else ""
    return (
        f"step {s.step:>7} | epoch {s.epoch} ({s.epoch_progress:4.0%}) | loss {s.smooth_loss:.3f} "
        f"nats/char ({nats_to_bits(s.smooth_loss):.2f} bits){val}{lr} | "
        f"{s.chars_per_sec / 1000:6.1f}k chars/s | {format_duration(s.elapsed)}"
    )


def resume_command(path: Path | str, headless: bool = True) -> str:
    """The command that continues a run from its checkpoint."""
    return f"rnn-tui --resume {shlex.quote(str(path))}" + (" --headless" if headless else "")


class HeadlessReporter:
    """A `publish` callback for Trainer.run that prints progress, samples and events."""

    def __init__(
        self,
        out: IO[str],
        *,
        is_tty: bool,
        line_every: float = 2.0,
        sample_every_s: float = 15.0,
        log: MetricsLog | None = None,
        quiet: bool = False,
    ):
        self.out, self.is_tty, self.log, self.quiet = out, is_tty, log, quiet
        self.line_every = 0.25 if is_tty else line_every
        self.sample_every_s = sample_every_s
        self._last_line = 0.0
        self._last_sample = -1e9
        self._sample_step = -1
        self._pending_cr = False
        self.last_snapshot: Snapshot | None = None
        self.failure: TrainingFailed | None = None
        self.last_save: CheckpointSaved | CheckpointFailed | None = None
        self.baselines: Baselines | None = None

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if self.log is not None:
            self.log.observe(event)
        match event:
            case BaselinesReady():
                self.baselines = event.baselines
                how = "cached" if event.cached else f"computed in {event.seconds:.1f} s"
                self._print(
                    f"baselines on the {event.val_chars:,} validation characters the model is "
                    f"scored on ({how}):\n" + "\n".join(baseline_table(event.baselines))
                )
            case YardstickUnavailable(what="baselines"):
                self._print(f"baselines: none ({event.reason})")
            case NoveltyMeasured():
                text = event.novelty.describe(event.text, 100)
                if event.step == self._sample_step:
                    self._print(f"novelty of the sample at step {event.step}: {text}")
            case Snapshot():
                self.last_snapshot = event
                if now - self._last_line >= self.line_every:
                    self._last_line = now
                    self._progress(event)
            case SampleReady():
                if event.requested or now - self._last_sample >= self.sample_every_s:
                    self._last_sample = now
                    if not event.requested:
                        self._sample_step = event.step  # its novelty is printed when measured
                    self._print(
                        f"--- sample at step {event.step} ---\n{event.seed}{event.text}\n---"
                    )
            case CheckpointSaved():
                self.last_save = event
                for notice in event.notices:
                    print_error(notice, "notice")
                self._print(f"saved checkpoint {event.path} (step {event.step})")
            case CheckpointFailed():
                self.last_save = event
                # A full or read-only disk: say so and keep training. A save refused because
                # the weights have diverged is not reported: the divergence line follows at once.
                if "diverged" not in event.error:
                    print_error(event.error)
            case TrainingFailed():
                self.failure = event

    def say(self, text: str) -> None:
        """Print a line of its own (unless quiet)."""
        self._print(text)

    def finish(self) -> None:
        """Print the final progress line."""
        if self.last_snapshot is not None:
            self._progress(self.last_snapshot, final=True)

    def _progress(self, s: Snapshot, final: bool = False) -> None:
        if self.log is not None:
            self.log.log(s)
        if self.quiet and not final:
            return
        line = format_progress(s, self.baselines)
        if self.is_tty and not final:
            self._write("\r" + line + "\x1b[K")
            self._pending_cr = True
        else:
            self._print(line, force=final)

    def _print(self, text: str, force: bool = False) -> None:
        if self.quiet and not force and not text.startswith(("error", "saved")):
            return
        if self._pending_cr:
            self._pending_cr = False
            text = "\n" + text
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        """Write and flush; a closed terminal (dropped SSH link) silences output, never training."""
        if self.out is None:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            self.out = None


def describe_model(trainer: Trainer) -> str:
    """The line headless runs print before training: model, size, batch, data."""
    d = trainer.info()
    return (
        f"model: {d.cell} {d.num_layers}x{d.hidden_size}, {d.params:,} parameters, "
        f"batch {d.batch_size} x {d.seq_length} chars, {d.optimizer}, {d.dtype}; "
        f"{d.train_chars:,} training / {d.val_chars:,} validation characters"
    )


def run_headless(
    trainer: Trainer,
    *,
    corpus_lines: list[str],
    checkpoint: Path,
    log_path: Path | None,
    quiet: bool,
    autosave_seconds: float,
    max_steps: int | None,
    max_seconds: float | None,
    max_epochs: int | None = None,
    yardsticks: YardstickOptions | None = None,
) -> int:
    """Train in this thread, print progress, save at the end and on Ctrl-C / SIGTERM / SIGHUP.

    With `yardsticks`, the baseline table is printed before training starts (its workers then
    measure the samples' novelty beside the run)."""
    # A dropped SSH link or a closed pipe silences the output; it never stops training or saving.
    out = TolerantStream(sys.stdout)
    if not quiet:
        for line in corpus_lines:
            out.write(line + "\n")
        out.write(describe_model(trainer) + "\n")
        out.flush()
    log = None
    if log_path is not None:

        def log_failed(exc: OSError) -> None:
            why = exc.strerror or exc
            print_error(f"cannot write {log_path} ({why}); training goes on without it", "warning")

        log = MetricsLog(log_path, log_failed)
    reporter = HeadlessReporter(out, is_tty=out.isatty(), log=log, quiet=quiet)

    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()
        trainer.stop()

    # The handlers stay until the final checkpoint is written: a second SIGHUP or SIGTERM (the
    # shell passing on a hang-up, say) must not kill the process in the middle of that save.
    stop_signals = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            stop_signals[sig] = signal.signal(sig, request_stop)
    policy = RunPolicy(autosave_seconds=autosave_seconds, save_on_exit=True)
    workers = Yardsticks.for_trainer(trainer, yardsticks) if yardsticks else None
    try:
        publish = reporter
        if workers is not None:
            publish = workers.attach(reporter)
            # the table first, then training (a new corpus takes seconds; a cached one, none)
            if workers.wait_for_baselines(1.0, stopping.is_set) is None:
                reporter.say("computing the n-gram baselines (cached for later runs)…")
                workers.wait_for_baselines(should_stop=stopping.is_set)
        reason = trainer.run(
            publish,
            max_steps=max_steps,
            max_seconds=max_seconds,
            max_epochs=max_epochs,
            policy=policy,
        )
        reporter.finish()
        if reason == "diverged":
            failure = reporter.failure.reason if reporter.failure else "training diverged"
            print_error(divergence_advice(trainer, failure))
            return EXIT_DIVERGED
        if not isinstance(reporter.last_save, CheckpointSaved):
            error = reporter.last_save.error if reporter.last_save else "nothing was saved"
            print_error(error)
            return 1
        out.write(f"resume with: {resume_command(checkpoint)}\n")
        out.flush()
        return 0
    finally:
        if workers is not None:
            workers.stop()
        for sig, handler in stop_signals.items():
            signal.signal(sig, handler)
        if log is not None:
            log.close()


def divergence_advice(trainer: Trainer, reason: str) -> str:
    """The divergence reason plus what to do: roll back with a lower rate, or start over."""
    from rnn_tui.engine.checkpoint import CheckpointError, read_meta

    rate = trainer.config.learning_rate / 10
    latest = trainer.checkpoint_path
    meta = None
    if latest is not None and latest.exists():
        try:
            meta = read_meta(latest)
        except CheckpointError:
            meta = None
    # only this run's own checkpoint is worth rolling back to (not another corpus's file)
    if meta is not None and meta.get("corpus_sha256") == trainer.corpus_sha256:
        # not above the rate the good checkpoint was trained with (the user may have raised it)
        saved = (
            meta.get("config", {}).get("learning_rate")
            if isinstance(meta.get("config"), dict)
            else None
        )
        if isinstance(saved, (int, float)) and not isinstance(saved, bool):
            rate = min(rate, float(saved))
        roll_back = f"{resume_command(latest, headless=False)} --learning-rate {rate:g} --headless"
        return f"{reason}; the diverged weights were not saved; roll back with: {roll_back}"
    return (
        f"{reason}; nothing was saved; start again with a lower rate, e.g. --learning-rate {rate:g}"
    )
