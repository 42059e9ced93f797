"""Headless runner: trains with `Trainer.run` and prints compact progress for terminals and logs.

On a terminal the progress line is rewritten in place a few times a second; when stdout is a
file or a pipe it prints plain lines every `line_every` seconds instead (no carriage-return spam).
Samples print at most every `sample_every_s` seconds. A JSONL log gets a record per progress line.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from .events import CheckpointFailed, CheckpointSaved, Event, SampleReady, Snapshot, TrainingFailed
from .metrics import nats_to_bits


def format_progress(s: Snapshot) -> str:
    """One compact line: step, epoch, losses in nats and bits, validation, speed, time."""
    val = f" | val {s.val_loss:.3f}" if s.val_loss is not None else ""
    lr = f" | lr {s.scheduled_learning_rate:.2g}" if s.scheduled_learning_rate is not None else ""
    return (
        f"step {s.step:>7} | epoch {s.epoch} ({s.epoch_progress:4.0%}) | loss {s.smooth_loss:.3f} nats/char "
        f"({nats_to_bits(s.smooth_loss):.2f} bits){val}{lr} | {s.chars_per_sec / 1000:6.1f}k chars/s | "
        f"{_clock(s.elapsed)}"
    )


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class HeadlessReporter:
    """A `publish` callback for Trainer.run that prints progress, samples and events."""

    def __init__(
        self,
        out: IO[str],
        *,
        is_tty: bool,
        line_every: float = 2.0,
        sample_every_s: float = 15.0,
        log: IO[str] | None = None,
        quiet: bool = False,
    ):
        self.out, self.is_tty, self.log, self.quiet = out, is_tty, log, quiet
        self.line_every = 0.25 if is_tty else line_every
        self.sample_every_s = sample_every_s
        self._last_line = 0.0
        self._last_sample = -1e9
        self._pending_cr = False
        self.last_snapshot: Snapshot | None = None
        self.failure: TrainingFailed | None = None
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, Snapshot):
            self.last_snapshot = event
            if now - self._last_line >= self.line_every:
                self._last_line = now
                self._progress(event)
            return
        self.events.append(event)
        if isinstance(event, SampleReady):
            if event.requested or now - self._last_sample >= self.sample_every_s:
                self._last_sample = now
                self._print(f"--- sample at step {event.step} ---\n{event.seed}{event.text}\n---")
        elif isinstance(event, CheckpointSaved):
            self._print(f"saved checkpoint {event.path} (step {event.step})")
        elif isinstance(event, CheckpointFailed):
            self._print(f"error: {event.error}")
        elif isinstance(event, TrainingFailed):
            self.failure = event

    def finish(self) -> None:
        """Print the final progress line."""
        if self.last_snapshot is not None:
            self._progress(self.last_snapshot, final=True)

    def _progress(self, s: Snapshot, final: bool = False) -> None:
        if self.log is not None:
            self.log.write(json.dumps(snapshot_record(s)) + "\n")
            self.log.flush()
        if self.quiet and not final:
            return
        line = format_progress(s)
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


def snapshot_record(s: Snapshot) -> dict[str, Any]:
    """The JSONL metrics record of a snapshot."""
    return {
        "time": round(time.time(), 3),
        "step": s.step,
        "epoch": s.epoch,
        "loss": s.loss,
        "smooth_loss": s.smooth_loss,
        "smooth_loss_bits": nats_to_bits(s.smooth_loss),
        "classic_smooth_loss": s.classic_smooth_loss,
        "val_loss": s.val_loss,
        "chars_per_sec": round(s.chars_per_sec, 1),
        "elapsed": round(s.elapsed, 3),
        "grad_norm": s.grad_norm,
        "clipped_fraction": s.clipped_fraction,
        "learning_rate": s.hparams.get("learning_rate"),  # the schedule's base
        "scheduled_learning_rate": s.scheduled_learning_rate,  # in use; None without a schedule
        "state": s.state,
    }
