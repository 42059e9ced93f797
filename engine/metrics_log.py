"""The metrics log: one JSON object per line, the same schema for headless and dashboard runs.

Every record has the same keys. Gradient health (per parameter, from the Snapshot's last
probe), the n-gram baselines and where the validation loss stands among them, and the novelty
of the latest measured sample are null until known: the last two arrive as events from the
yardstick workers, which `MetricsLog.observe` keeps for the records that follow.

Strict JSON: a number that is not finite (the loss before the first step, a diverged run) is
written as null, never as a bare NaN that JSON readers reject. A log that cannot be written
(a full disk, a removed folder) is reported once through `on_error` and then left alone:
training never stops because its log cannot be kept.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .events import BaselinesReady, Event, NoveltyMeasured, Snapshot
from .metrics import nats_to_bits, perplexity

GRADIENT_FIELDS = (
    "gradient_step",
    "grad_norms",
    "update_ratios",
    "clipped_fractions",
    "gradient_reach",
    "recurrent_sigma",
    "gradient_advice",
)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def metrics_record(
    s: Snapshot,
    baselines: BaselinesReady | None = None,
    novelty: NoveltyMeasured | None = None,
) -> dict[str, Any]:
    """The JSONL record of a snapshot, with the latest baselines and novelty known (strict JSON:
    non-finite numbers are null)."""
    record = {
        "time": round(time.time(), 3),
        "step": s.step,
        "epoch": s.epoch,
        "run_state": s.run_state,
        "loss": _finite(s.loss),  # the latest window, per character (nats)
        "smooth_loss": _finite(s.smooth_loss),
        "smooth_loss_bits": _finite(nats_to_bits(s.smooth_loss)),
        "perplexity": _finite(perplexity(s.smooth_loss)),
        "classic_smooth_loss": _finite(s.classic_smooth_loss),  # the video's 25-char sum
        "val_loss": _finite(s.val_loss),
        "chars_per_sec": round(s.chars_per_sec, 1),
        "elapsed": round(s.elapsed, 3),
        "grad_norm": _finite(s.grad_norm),
        "clipped_fraction": _finite(s.clipped_fraction),
        "learning_rate": s.hparams.get("learning_rate"),  # the schedule's base
        "scheduled_learning_rate": s.scheduled_learning_rate,  # in use; None without a schedule
        "schedule": s.schedule,  # what it does and where it stands: "cosine 2:10/5:00"
        "horizon_unit": s.horizon_unit,  # a budget-following cosine spans "steps" or "seconds"
        "horizon_end": s.horizon_end,  # ... and its cycle ends at this step count / training time
        "dropout_active": s.dropout_active,  # late dropout: false until its epoch
    }
    record["val_loss_bits"] = _finite(nats_to_bits(s.val_loss)) if s.val_loss is not None else None
    health = s.gradient_health
    record.update(health.to_log() if health is not None else dict.fromkeys(GRADIENT_FIELDS))
    record.update(_yardsticks(s, baselines, novelty))
    return record


def _yardsticks(
    s: Snapshot, baselines: BaselinesReady | None, novelty: NoveltyMeasured | None
) -> dict[str, Any]:
    """The baselines (label -> nats/char), where the validation loss stands, the novelty."""
    table = baselines.baselines if baselines is not None else None
    val = _finite(s.val_loss)
    return {
        "baselines": dict(table.yardsticks()) if table is not None else None,
        "val_beats": table.beaten_by(val) if table is not None and val is not None else None,
        "val_stands": table.describe(val) if table is not None and val is not None else None,
        "novelty_step": novelty.step if novelty is not None else None,
        "longest_copy": novelty.novelty.longest_copy if novelty is not None else None,
        "copied_fraction": _finite(novelty.novelty.copied_fraction) if novelty else None,
    }


class MetricsLog:
    """Appends records to a JSONL file, creating its folder; silenced after the first failure."""

    def __init__(self, path: str | Path, on_error: Callable[[OSError], None] | None = None):
        self.path = Path(path)
        self.on_error = on_error
        self.failed: OSError | None = None
        self._handle: IO[str] | None = None
        self.baselines: BaselinesReady | None = None
        self.novelty: NoveltyMeasured | None = None

    def open(self) -> MetricsLog:
        """Open for appending now (OSError if that is impossible: let the caller refuse early)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and flush it (a reader tailing the file sees whole lines)."""
        if self.failed is not None:
            return
        try:
            if self._handle is None:
                self.open()
            self._handle.write(json.dumps(record, allow_nan=False) + "\n")
            self._handle.flush()
        except OSError as exc:
            self.failed = exc
            self.close()
            if self.on_error is not None:
                self.on_error(exc)

    def observe(self, event: Event) -> None:
        """Keep the latest baselines and novelty for the records that follow."""
        if isinstance(event, BaselinesReady):
            self.baselines = event
        elif isinstance(event, NoveltyMeasured):
            self.novelty = event

    def log(self, snapshot: Snapshot) -> None:
        """Append the record of a snapshot."""
        self.write(metrics_record(snapshot, self.baselines, self.novelty))

    def close(self) -> None:
        """Close the file (a failure to close is a failure to log, reported like any other)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.close()
        except OSError as exc:
            if self.failed is None:
                self.failed = exc
                if self.on_error is not None:
                    self.on_error(exc)
