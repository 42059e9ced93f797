"""The status panel: corpus, model summary, run state, progress, speed, losses, last checkpoint.

The losses in honest units: the smoothed training loss (nats and bits) with the raw loss of the
latest window beside it (the smoothed one lags far behind early on) and its perplexity; the
validation loss with its perplexity and, once the n-gram baselines are known, where it stands
among them ("beats 3-gram (1.98), not 4-gram (1.72)")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from rnn_tui.engine import RunInfo, Snapshot
from rnn_tui.engine.metrics import nats_to_bits, perplexity
from rnn_tui.engine.ngram import Baselines

from ..formatting import format_count, format_duration
from ..yardsticks import stands
from .fitted_line import FittedLine

LINES = (
    "corpus",
    "model",
    "state",
    "epoch",
    "speed",
    "loss",
    "loss-more",
    "val",
    "val-more",
    "checkpoint",
    "message",
)
FITTED = "val-more"  # the verdict is cut to its width: made again at the width it is drawn at
INDENT = 6  # the continuation lines start under the numbers

STATE_LABELS = {
    "running": ("● RUNNING", "$success"),
    "paused": ("❚❚ PAUSED", "$warning"),
    "pausing": ("❚❚ PAUSING…", "$warning"),
    "resuming": ("● RESUMING…", "$success"),
    "diverged": ("✖ DIVERGED", "$error"),
    "stopped": ("■ STOPPED", "$text-muted"),
    "crashed": ("✖ CRASHED", "$error"),
}


def short_name(name: str, width: int = 18) -> str:
    """A corpus name that fits its line: a long path becomes its file name, then is cut."""
    if len(name) <= width:
        return name
    if "/" in name:
        name = Path(name).name or name
    return name if len(name) <= width else name[: width - 1] + "…"


def progress_bar(fraction: float, width: int) -> str:
    """A bar of eighth blocks showing `fraction` of `width` cells."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return bar.ljust(width, "·")


def loss_text(label: str, nats: float | None) -> Content:
    """`label 1.234 nats  1.780 bits`, or a dash when unknown."""
    if nats is None or not math.isfinite(nats):
        return Content.assemble((f"{label:<5}", "$text-muted"), "  —")
    return Content.assemble(
        (f"{label:<5}", "$text-muted"),
        (f"{nats:6.3f}", "bold"),
        (" nats ", "$text-muted"),
        (f"{nats_to_bits(nats):6.3f}", "bold"),
        (" bits", "$text-muted"),
    )


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def loss_more_text(smooth: float, raw: float) -> Content:
    """Under the smoothed loss: the latest window's raw loss and the smoothed perplexity."""
    if not (_finite(smooth) and _finite(raw)):
        return Content("")
    return Content.assemble(
        " " * INDENT,
        ("last ", "$text-muted"),
        (f"{raw:.3f}", "bold"),
        (" · ppl ", "$text-muted"),
        f"{perplexity(smooth):.3g}",
    )


def val_more_text(val: float | None, baselines: Baselines | None, width: int) -> Content:
    """Under the validation loss: its perplexity and where it stands among the baselines, in
    `width` columns (when both do not fit, the verdict stays and the perplexity goes)."""
    if not _finite(val):
        return Content("")
    room = max(width - INDENT, 0)
    ppl = f"{perplexity(val):.3g}"
    beside = stands(baselines, val, room - len("ppl  · ") - len(ppl))
    if baselines is not None and (not beside or beside.endswith("…")):
        return Content.assemble(" " * INDENT, stands(baselines, val, room))
    parts: list[tuple[str, str] | str] = [" " * INDENT, ("ppl ", "$text-muted"), ppl]
    if beside:
        parts += [(" · ", "$text-muted"), beside]
    return Content.assemble(*parts)


class StatusLine(Static):
    """One line of the status panel; repaints only when its text changes."""

    DEFAULT_CSS = """
    StatusLine { height: 1; }
    StatusLine#status-message { height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self._shown: Content | None = None

    def show(self, content: Content, *, layout: bool = False) -> None:
        """Display `content` unless it is already displayed (one line: no layout pass needed)."""
        if content != self._shown:
            self._shown = content
            self.update(content, layout=layout)


class StatusPanel(Vertical):
    """Corpus, model, state, step, epoch progress, chars/s, elapsed, losses and last checkpoint."""

    def __init__(
        self,
        info: RunInfo,
        corpus_lines: Sequence[str] = (),
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.info = info
        self.corpus_lines = tuple(corpus_lines)
        self.border_title = "Status"
        self.checkpoint_step: int | None = None
        self.baselines: Baselines | None = None
        self.val_loss: float | None = None
        self._lines: dict[str, StatusLine] = {}

    def compose(self) -> ComposeResult:
        for name in LINES:
            if name == FITTED:
                yield FittedLine(id=f"status-{name}")
            else:
                yield StatusLine(id=f"status-{name}")

    def on_mount(self) -> None:
        self._lines = {
            name: self.query_one(f"#status-{name}", StatusLine) for name in LINES if name != FITTED
        }
        d = self.info
        self._lines["corpus"].show(
            Content.assemble(
                ("corpus ", "$text-muted"),
                (short_name(d.corpus or "text"), "bold"),
                f" {format_count(d.train_chars + d.val_chars)} ch",
                (" · V=", "$text-muted"),
                str(d.vocab_size),
            )
        )
        self._lines["model"].show(
            Content.assemble(
                ("model  ", "$text-muted"),
                (f"{d.cell} {d.num_layers}×{d.hidden_size}", "bold"),
                (" · ", "$text-muted"),
                f"{d.params:,} params",
            )
        )
        self._lines["corpus"].tooltip = "\n".join((d.corpus, *self.corpus_lines))
        self.show_checkpoint(None)
        self._lines["message"].display = False

    def _dropout(self, snapshot: Snapshot) -> tuple[tuple[str, str] | str, ...]:
        """' · dropout 0.25', or ' · dropout from epoch 4' while late dropout waits: the
        training loss steps up when it starts, and this says why."""
        d = self.info
        if not d.dropout:
            return ()
        if snapshot.dropout_active:
            return ((" · ", "$text-muted"), f"dropout {d.dropout:g}")
        return (
            (" · ", "$text-muted"),
            ("dropout from epoch ", "$text-muted"),
            f"{d.dropout_from_epoch:g}",
        )

    def show(self, snapshot: Snapshot, *, state: str | None = None, message: str = "") -> None:
        """Update the changing lines from a snapshot (`state` overrides the snapshot's own)."""
        state = state or snapshot.run_state
        label, colour = STATE_LABELS.get(state, (state.upper(), "$text"))
        self._line("status-state").show(
            Content.assemble(
                (label, f"bold {colour}"),
                ("  step ", "$text-muted"),
                (f"{snapshot.step:,}", "bold"),
            )
        )
        self._line("status-epoch").show(
            Content.assemble(
                ("epoch ", "$text-muted"),
                (f"{snapshot.epoch:<3} ", "bold"),
                (progress_bar(snapshot.epoch_progress, 12), "$accent"),
                f" {snapshot.epoch_progress:4.0%}",
                *self._dropout(snapshot),
            )
        )
        speed = format_count(snapshot.chars_per_sec) if state == "running" else "—"
        self._line("status-speed").show(
            Content.assemble(
                ("speed ", "$text-muted"),
                (f"{speed:>6}", "bold"),
                (" ch/s", "$text-muted"),
                ("  time ", "$text-muted"),
                format_duration(snapshot.elapsed),
            )
        )
        self._line("status-loss").show(loss_text("loss", snapshot.smooth_loss))
        self._line("loss-more").show(loss_more_text(snapshot.smooth_loss, snapshot.loss))
        self._line("status-val").show(loss_text("val", snapshot.val_loss))
        self.val_loss = snapshot.val_loss
        self._show_val_more()
        self.show_checkpoint(snapshot.last_checkpoint)
        reason = message or snapshot.message
        line = self._line("status-message")
        line.display = bool(reason) and state in ("diverged", "crashed")
        line.show(Content(reason), layout=True)

    def show_baselines(self, baselines: Baselines) -> None:
        """The n-gram yardsticks arrived: say where the validation loss stands among them."""
        self.baselines = baselines
        self._show_val_more()

    def _show_val_more(self) -> None:
        val, baselines = self.val_loss, self.baselines
        self.query_one("#status-val-more", FittedLine).fit(
            lambda width: val_more_text(val, baselines, width)
        )

    def show_checkpoint(self, path: str | None, step: int | None = None) -> None:
        """The last checkpoint written (file name, and the step when known)."""
        if step is not None:
            self.checkpoint_step = step
        line = self._line("status-checkpoint")
        if not path:
            line.show(Content.assemble(("saved ", "$text-muted"), "—"))
            return
        at = f" @{self.checkpoint_step:,}" if self.checkpoint_step is not None else ""
        line.show(Content.assemble(("saved ", "$text-muted"), Path(path).name, (at, "$text-muted")))
        line.tooltip = path

    def _line(self, name: str) -> StatusLine:
        return self._lines[name.removeprefix("status-")]
