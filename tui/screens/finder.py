"""The cell finder screen: every unit ranked against text features, or against a marked span.

Features (engine.finder.find_cells): the passage (up to FINDER_CHARS of it) is traced keeping h
and, for an LSTM, c, and every unit is correlated with every registered text feature. Span
(engine.finder.rank_span): LSTMVis's hypothesis, the neuron view's marked span and the text
like it (the same substring, the same character pattern, or the span alone: `m` switches).

The work runs in a worker thread that reports progress by message and polls for cancellation
(leaving the screen cancels it), so the screen never waits for it; the feature search itself
runs in a niced child process with one BLAS thread (engine.offload), so training keeps most of
the cores. Results are kept in a cache the neuron view owns, so reopening the finder on the
same passage is instant. Enter on a row closes the finder with that unit, which the neuron view
then shows.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, ProgressBar, Static
from textual.worker import get_current_worker

from rnn_tui.engine.features import FEATURES
from rnn_tui.engine.finder import SPAN_MATCHES, CellMatch, SpanMatch, rank_span, search_cells
from rnn_tui.engine.offload import BackgroundProcessError, run_in_background_process
from rnn_tui.engine.probe import ProbeCancelled, Trace

from .keys import FittingKeyBar, KeysDialog, key_rows
from .readout import quoted
from .subject import FINDER_CHARS, Passage, ProbeSubject

TOP_ROWS = 200  # rows the table holds (the ranking is over every unit and feature)
FEATURE_COLUMNS = (("#", 4), ("layer", 5), ("signal", 6), ("unit", 5), ("feature", 16), ("r", 7))
SPAN_COLUMNS = (
    ("#", 4),
    ("layer", 5),
    ("signal", 6),
    ("unit", 5),
    ("r", 7),
    ("mean in", 8),
    ("mean out", 8),
)
MATCH_WORDS = {
    "substring": "every occurrence of the same text",
    "pattern": "text with the same character pattern",
    "span": "the span alone",
}


@dataclass(frozen=True)
class CellChoice:
    """A unit chosen in the finder: the neuron view switches to it."""

    layer: int
    signal: str
    unit: int


@dataclass(frozen=True, eq=False)
class SpanQuery:
    """A marked span of the neuron view's traced passage."""

    trace: Trace
    text: str
    start: int
    end: int


Matches = list[CellMatch] | list[SpanMatch]
FinderCache = MutableMapping[tuple, tuple[Matches, float]]


class FinderScreen(Screen[CellChoice | None]):
    """A ranked table of units, computed in a worker with a progress bar."""

    DEFAULT_CSS = """
    FinderScreen { background: $background; }
    #finder-header { height: auto; padding: 0 1; background: $surface; color: $text; }
    #finder-progress { height: 1; padding: 0 1; }
    #finder-table { height: 1fr; }
    #finder-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Show unit", tooltip="open the neuron view on this row's unit"),
        Binding(
            "m",
            "match",
            "Match",
            tooltip="span ranking: the same text, the same character pattern, or the span alone",
        ),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="these keys"),
        Binding("escape", "close", "Back", tooltip="back to the neuron view (cancels the search)"),
        Binding("q", "close", "Back", show=False, tooltip="back to the neuron view"),
    ]

    class Progressed(Message):
        """The worker got this far (fraction in [0, 1])."""

        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    class Done(Message):
        """The worker's ranking, and how long it took."""

        def __init__(self, key: tuple, matches: Matches, seconds: float) -> None:
            super().__init__()
            self.key = key
            self.matches = matches
            self.seconds = seconds

    def __init__(
        self,
        subject: ProbeSubject,
        passage: Passage,
        *,
        span: SpanQuery | None = None,
        cache: FinderCache | None = None,
    ) -> None:
        super().__init__()
        self.subject = subject
        self.passage = passage
        self.span = span
        self.match = "substring"
        self.cache: FinderCache = {} if cache is None else cache
        self.matches: Matches = []
        self.done = False
        self.seconds = 0.0  # how long the search took (the cached search's time when reopened)

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._header(), id="finder-header", markup=False)
        yield ProgressBar(total=100, show_eta=False, id="finder-progress")
        yield DataTable(id="finder-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="finder-status", markup=False)
        yield FittingKeyBar(id="finder-keys")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        columns = FEATURE_COLUMNS if self.span is None else SPAN_COLUMNS
        for label, width in columns:  # fixed widths: no re-layout as rows arrive
            table.add_column(label, width=width)
        table.focus()
        self._start()

    def _header(self) -> str:
        subject = self.subject
        if self.span is None:
            chars = min(len(self.passage.text), FINDER_CHARS)
            signals = "h and c" if subject.model.cells[0].kind == "lstm" else "h"
            return (
                f"Interpretable cells · {subject.describe} · {self.passage.name}, {chars:,} chars\n"
                f"r of every unit's {signals} with {len(FEATURES)} text features "
                "(quotes, brackets, line and word position, case, …)"
            )
        marked = self.span.text[self.span.start : self.span.end]
        shown = "".join(quoted(c)[1:-1] for c in marked[:24])
        return (
            f"Units that fire on the marked span · {subject.describe}\n"
            f"'{shown}'{'…' if len(marked) > 24 else ''} and {MATCH_WORDS[self.match]} "
            "(point-biserial r; m: change)"
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "match":  # hidden unless ranking a span
            return self.span is not None
        if action == "choose":
            return True if self.done and self.matches else None
        return True

    # -- the work -----------------------------------------------------------------------------

    def _key(self) -> tuple:
        if self.span is None:
            return ("features", self.passage)
        return ("span", self.span.start, self.span.end, self.match)  # the cache is per trace

    def _start(self) -> None:
        key = self._key()
        self.done = False
        self.query_one("#finder-header", Static).update(self._header())
        if key in self.cache:
            matches, seconds = self.cache[key]
            self._show(matches, seconds)
            return
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(progress=0)
        self.query_one("#finder-status", Static).update("Searching… (esc cancels)")
        self.query_one(DataTable).clear()
        self.compute(key)

    @work(thread=True, exclusive=True, group="finder", exit_on_error=False)
    def compute(self, key: tuple) -> None:
        """Trace and correlate in this worker thread; post progress and the result."""
        worker = get_current_worker()
        started = time.perf_counter()
        shown = [0.0]

        def report(fraction: float) -> None:
            if fraction - shown[0] >= 0.01 or fraction >= 1.0:
                shown[0] = fraction
                self.post_message(self.Progressed(fraction))

        def abort() -> bool:
            return worker.is_cancelled

        try:
            if self.span is None:
                matches: Matches = self._find_cells(report, abort)
            else:
                q = self.span
                matches = rank_span(
                    q.trace,
                    q.text,
                    q.start,
                    q.end,
                    match=self.match,
                    top=TOP_ROWS,
                    progress=report,
                    should_abort=abort,
                )
        except ProbeCancelled:
            return
        except BackgroundProcessError as exc:  # killed or out of memory: say so, not spin on
            self.app.call_from_thread(
                self.query_one("#finder-status", Static).update, f"the search stopped: {exc}"
            )
            return
        self.post_message(self.Done(key, matches, time.perf_counter() - started))

    def _find_cells(self, report, abort) -> list[CellMatch]:
        """The search in a niced child process (engine.offload): in a thread beside training it
        took the cores training's BLAS threads want and slowed training to a quarter."""
        subject, passage = self.subject, self.passage
        text = passage.text[:FINDER_CHARS]
        warm = subject.encode(passage.warmup) if passage.warmup else None
        return run_in_background_process(
            search_cells,
            subject.model,
            dict(subject.params),  # the copy's read-only mapping view does not pickle
            text,
            subject.encode(text),
            warm,
            TOP_ROWS,
            progress=report,
            should_abort=abort,
        )

    def on_finder_screen_progressed(self, message: Progressed) -> None:
        if not self.done:
            self.query_one(ProgressBar).update(progress=100 * message.fraction)

    def on_finder_screen_done(self, message: Done) -> None:
        self.cache[message.key] = (message.matches, message.seconds)
        if message.key == self._key():
            self._show(message.matches, message.seconds)

    def _show(self, matches: Matches, seconds: float) -> None:
        self.matches, self.done = matches, True
        self.query_one(ProgressBar).display = False
        table = self.query_one(DataTable)
        table.clear()
        for rank, m in enumerate(matches, 1):
            if isinstance(m, CellMatch):
                label = FEATURES[m.feature].label
                row = (rank, m.layer, m.signal, m.unit, label, f"{m.r:+.3f}")
            else:
                row = (
                    rank,
                    m.layer,
                    m.signal,
                    m.unit,
                    f"{m.r:+.3f}",
                    f"{m.mean_inside:+.3f}",
                    f"{m.mean_outside:+.3f}",
                )
            table.add_row(*row, key=str(rank - 1))
        self.seconds = seconds  # kept for benchmarks, not shown (snapshots)
        self.query_one("#finder-status", Static).update(
            f"the {len(matches)} strongest · ↑↓ choose, Enter: show that unit in the neuron view"
        )
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------------

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or a click) on a row: back to the neuron view on that unit."""
        event.stop()
        self._choose(int(event.row_key.value or 0))

    def action_choose(self) -> None:
        """Open the neuron view on the highlighted row's unit."""
        self._choose(self.query_one(DataTable).cursor_row)

    def _choose(self, index: int) -> None:
        if self.done and 0 <= index < len(self.matches):
            m = self.matches[index]
            self.dismiss(CellChoice(m.layer, m.signal, m.unit))

    def action_match(self) -> None:
        """Span ranking: the next way of finding text like the span."""
        if self.span is not None:
            self.match = SPAN_MATCHES[(SPAN_MATCHES.index(self.match) + 1) % len(SPAN_MATCHES)]
            self._start()

    def action_help(self) -> None:
        """The keys and what the table means."""
        self.app.push_screen(
            KeysDialog(
                "Cell finder",
                key_rows(self),
                "Each row is one unit (layer, signal h or c, unit number) and, for features, the\n"
                "text feature it tracks best; r is Pearson's correlation over the passage (+1:\n"
                "rises with the feature, -1: falls with it). For a marked span r is point-biserial:\n"
                "how much higher (or lower) the unit is on the span and text like it.\n",
            )
        )

    def action_close(self) -> None:
        """Back to the neuron view; a running search is cancelled."""
        self.workers.cancel_group(self, "finder")
        self.dismiss(None)
