"""The sample panel: the latest generated text with its step and how much of it is copied from
the training text (its novelty, once measured); earlier samples scroll below it."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from rnn_tui.engine.events import NoveltyMeasured

from .fitted_line import FittedLine

MAX_SAMPLES = 100
KEPT_NOVELTY = 8  # measurements kept for samples not shown yet


def printable(text: str) -> str:
    """Text safe to show: tabs as spaces, other control characters as '·', newlines kept."""
    return "".join(
        ch if ch == "\n" or ch.isprintable() else ("    " if ch == "\t" else "·") for ch in text
    )


def sample_content(step: int, text: str, *, latest: bool = False) -> Content:
    """A heading with the step, then the text."""
    heading = f"step {step:,}"
    style = "bold $accent" if latest else "$text-muted"
    return Content.assemble((heading, style), "\n", printable(text))


class SampleEntry(Static):
    """One earlier sample."""

    def __init__(self, step: int, text: str) -> None:
        super().__init__(sample_content(step, text), markup=False)
        self.step = step
        self.text = text


class SamplePanel(Vertical):
    """The newest sample on top; earlier ones below, oldest first (noise first, then words).

    The newest sample has a fixed-height box (repainting it needs no layout pass). Earlier samples
    wait in `pending` until `flush_history()` appends them to the end of the scrolling list (one
    layout pass for many), so the dashboard can do that rarely while training runs.
    """

    def __init__(self, history: Iterable[tuple[int, str]] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Sample"
        self._initial = [(int(step), str(text)) for step, text in history if text]
        self.latest_step = -1
        self.latest_text = ""
        self.count = 0
        self.pending: list[tuple[int, str]] = []
        self.novelty: dict[int, NoveltyMeasured] = {}  # step -> measurement

    def compose(self) -> ComposeResult:
        yield Static(
            "No sample yet: one is drawn every few steps.", id="sample-latest", markup=False
        )
        yield FittedLine(id="sample-novelty")
        with VerticalScroll(id="sample-history"):
            for step, text in self._initial[:-1]:
                yield SampleEntry(step, text)

    def on_mount(self) -> None:
        if self._initial:
            self._show_latest(*self._initial[-1])
        self.count = len(self._initial)
        self._subtitle()

    def _show_latest(self, step: int, text: str) -> None:
        self.latest_step, self.latest_text = step, text
        self.query_one("#sample-latest", Static).update(
            sample_content(step, text, latest=True), layout=False
        )
        self._show_novelty()

    def show_novelty(self, measured: NoveltyMeasured) -> None:
        """Keep a sample's novelty; show it if that sample is the one on top."""
        self.novelty[measured.step] = measured
        for step in sorted(self.novelty)[:-KEPT_NOVELTY]:
            del self.novelty[step]
        if measured.step == self.latest_step:
            self._show_novelty()

    def _show_novelty(self) -> None:
        line = self.query_one("#sample-novelty", FittedLine)
        measured = self.novelty.get(self.latest_step)
        if measured is None or measured.text != self.latest_text:
            line.fit(None)
            return
        line.fit(lambda width: Content(measured.novelty.describe(measured.text, width)))

    def _subtitle(self) -> None:
        if self.count > 1:
            self.border_subtitle = f"{self.count - 1} earlier below · scroll"

    def add(self, step: int, text: str) -> None:
        """Show a new sample on top; the previous one waits to join the history."""
        if step == self.latest_step or not text:
            return
        if self.latest_step >= 0:
            self.pending.append((self.latest_step, self.latest_text))
        self._show_latest(step, text)
        self.count += 1
        self._subtitle()

    def flush_history(self) -> None:
        """Append the waiting samples to the end of the history (oldest first)."""
        if not self.pending:
            return
        history = self.query_one("#sample-history", VerticalScroll)
        at_end = history.max_scroll_y > 0 and history.scroll_y >= history.max_scroll_y
        entries = [SampleEntry(step, text) for step, text in self.pending[-MAX_SAMPLES:]]
        self.pending.clear()
        history.mount_all(entries)
        surplus = len(history.children) + len(entries) - MAX_SAMPLES
        if surplus > 0:
            history.remove_children(list(history.children)[:surplus])
        if at_end:
            history.call_after_refresh(history.scroll_end, animate=False)
