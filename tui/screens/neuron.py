"""The neuron view: a passage coloured by one unit (or by the model's surprise), with a cursor.

The screen traces the passage (engine.probe.trace, in a worker thread, on a parameter copy)
and draws each character on the colour of the selected unit's value after reading it: the
hidden output h of any layer and, for an LSTM, the memory c (each cell scaled by its own robust maximum) and
the gates; for a GRU its gates. Under the cursor: the character, the unit's value, the
probability and loss of the character that actually came next, and the top guesses for it.
`e` colours every character by its surprise (the model's loss on it) instead.

Opened from the dashboard (`i`) it asks the run for a copy of the weights (RequestWeights) and
waits for the answer, so it never reads the trainer's arrays and training goes on; `w` takes a
fresh copy. Opened by `rnn-tui inspect` it gets a checkpoint's model directly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from rnn_tui.engine import VocabError
from rnn_tui.engine.control import RunControl
from rnn_tui.engine.events import PROBE_WARMUP_CHARS, WeightsCopied
from rnn_tui.engine.probe import SIGNAL_DESCRIPTIONS, ProbeCancelled, Trace, trace

from ..neuron_render import levels, palette_from_theme
from ..widgets.heatmap import RAMP
from .finder import CellChoice, FinderCache, FinderScreen, SpanQuery
from .keys import FittingKeyBar, KeysDialog, key_rows
from .passage_dialog import PassageDialog
from .passage_view import PassageView
from .readout import Readout, read_position, surprise, unit_label
from .subject import VIEW_CHARS, Passage, ProbeSubject, WeightsReceiver, join_traces

CURSOR_TIP = "move the cursor one character (or click a character)"
MARK_TIP = "mark a span from the cursor: your own hypothesis, to rank units by (r)"
ENDS_TIP = "cursor to the start / end of the passage"
PAGE_TIP = "cursor up / down a screenful"
DIGIT_TIP = "type a unit number, then Enter"
SPAN_SHOWN = 30  # characters of a marked span quoted in the status line
FIRST_CHARS = 600  # traced and shown first (about a screenful), so the view opens at once
# at most one repaint per this many seconds while a key repeats (a terminal repeats a held key
# ~30 times a second): a cursor move is ~1 KB, so a held → stays near 10 KB/s; recolouring
# the passage (a unit change) is ~8 KB at 120x40, so a held ↓ recolours at most every
# RECOLOUR_SECONDS (~14 KB/s). One key after a pause is drawn at once.
REPAINT_SECONDS = 0.1
RECOLOUR_SECONDS = 0.6

ABOUT = (
    "Each character's background is the selected unit's value after the model has read it:\n"
    "the colour scale runs from -1 through 0 (the panel's colour) to +1, the gates from 0 to 1,\n"
    "and the memory c is divided by its 99th-percentile magnitude over the passage. The\n"
    "passage starts from a zero state warmed on the text before it (for the validation text).\n"
    "The readout shows the model's guesses for the character after the cursor, with the\n"
    "probability and loss of the one that actually came next. Surprise (e) colours each\n"
    "character by the model's loss on it instead: bright where the model was wrong.\n"
    "Under NO_COLOR a ramp row under each text row shows the same levels, from ' ' to '@'.\n"
)


class NeuronScreen(Screen[None], WeightsReceiver):
    """A passage coloured by a unit, a cursor with the model's guesses, the finder a key away."""

    DEFAULT_CSS = """
    NeuronScreen { background: $background; }
    #neuron-header { height: 2; padding: 0 1; background: $surface; color: $text; }
    #neuron-body { height: 1fr; background: $surface; }
    #neuron-passage { width: 1fr; border-right: vkey $primary 40%; }
    #neuron-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    # the first eight fit an 80-column key bar; the rest show when wider, and all in the help
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "cursor", key_display="←→", tooltip=CURSOR_TIP),
        Binding("right", "move(1)", "cursor", show=False, tooltip=CURSOR_TIP),
        Binding("up", "unit(-1)", "unit", key_display="↑↓", tooltip="previous / next unit"),
        Binding("down", "unit(1)", "unit", show=False, tooltip="previous / next unit"),
        Binding("l", "layer", "layer", tooltip="next layer"),
        Binding(
            "s",
            "signal",
            "signal",
            tooltip="next signal: h; LSTM also c and the gates i f o g; GRU z r n",
        ),
        Binding(
            "e",
            "surprise",
            "surprise",
            tooltip="colour by the model's loss on each character / by the unit",
        ),
        Binding(
            "f",
            "finder",
            "finder",
            tooltip="rank every unit against text features (quotes, line position, …)",
        ),
        Binding(
            "p",
            "passage",
            "passage",
            tooltip="probe another passage: validation text, latest sample, a file, typed text",
        ),
        Binding("question_mark", "help", "help", key_display="?", tooltip="these keys"),
        Binding(
            "escape",
            "close",
            "close",
            tooltip="clear the typed number or the mark, else close the view",
        ),
        Binding(
            "w",
            "refresh_weights",
            "new copy",
            tooltip="take a fresh copy of the weights from the training run",
        ),
        Binding("shift+left", "mark(-1)", "mark", key_display="⇧←→", tooltip=MARK_TIP),
        Binding("shift+right", "mark(1)", "mark", show=False, tooltip=MARK_TIP),
        Binding(
            "r",
            "rank_span",
            "rank span",
            tooltip="rank the units by how selectively they fire on the marked span",
        ),
        Binding("home", "jump(0)", "start", show=False, tooltip=ENDS_TIP),
        Binding("end", "jump(-1)", "end", show=False, tooltip=ENDS_TIP),
        Binding("pageup", "page(-1)", "page", show=False, tooltip=PAGE_TIP),
        Binding("pagedown", "page(1)", "page", show=False, tooltip=PAGE_TIP),
        *[
            Binding(str(d), f"digit({d})", "unit number", show=False, tooltip=DIGIT_TIP)
            for d in range(10)
        ],
        Binding("enter", "enter", "go", show=False, tooltip="go to the typed unit number"),
        Binding("backspace", "backspace", "erase", show=False, tooltip="erase a typed digit"),
        Binding("q", "close", "close", show=False, tooltip="close the view"),
    ]

    class Traced(Message):
        """The worker traced a passage."""

        def __init__(
            self,
            generation: int,
            text: str,
            after: str | None,
            traced: Trace,
            seconds: float,
            partial: bool = False,
        ) -> None:
            super().__init__()
            self.generation = generation
            self.text = text
            self.after = after
            self.traced = traced
            self.seconds = seconds
            self.partial = partial  # the first FIRST_CHARS only: the rest follows

    class Failed(Message):
        """The worker could not trace the passage."""

        def __init__(self, generation: int, error: str) -> None:
            super().__init__()
            self.generation = generation
            self.error = error

    def __init__(
        self,
        subject: ProbeSubject | None = None,
        *,
        control: RunControl | None = None,
        latest_sample: Callable[[], str] | None = None,
    ) -> None:
        super().__init__()
        if subject is None and control is None:
            raise ValueError("the neuron view needs a model (subject) or a run to copy one from")
        self.subject = subject
        self.control = control
        self.latest_sample = latest_sample or (lambda: "")
        self.passage: Passage | None = None
        self.trace: Trace | None = None
        self.text = ""
        self.after: str | None = None  # the character after the shown passage, if known
        self.layer_index, self.signal_name, self.unit = 0, "h", 0  # what colours the text
        self.surprise = False
        self.cursor = 0
        self.anchor: int | None = None  # where the marked span started
        self.span: tuple[int, int] | None = None
        self.digits = ""
        self.weights_tag: str | None = None
        self.finder_cache: FinderCache = {}  # per weights copy
        self.span_cache: FinderCache = {}  # per trace
        # when the view opened, its weights copy arrived, and its first trace was applied
        self.opened_at = time.perf_counter()
        self.copied_at: float | None = None
        self.ready_at: float | None = None
        self._generation = 0
        self._shown_partial = False  # what is shown is the start of a trace still running
        self.traced_at: float | None = None  # when the whole passage was traced and shown
        self.trace_seconds = 0.0
        self._scales: dict[tuple[str, int, int], float] = {}
        self._message = ""
        self._painted_at = float("-inf")  # when the cursor or colours were last drawn
        self._recoloured_at = float("-inf")  # when the colours were
        self._paint_timer: Timer | None = None  # a repaint that is due
        self._recolour_due = False

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="neuron-header")
        with Horizontal(id="neuron-body"):
            yield PassageView(id="neuron-passage")
            yield Readout(id="neuron-readout")
        yield Static("", id="neuron-status", markup=False)
        yield FittingKeyBar(id="neuron-keys")

    def on_mount(self) -> None:
        if self.subject is not None:
            self._load(self.subject)
        else:
            self._request_weights()

    def on_unmount(self) -> None:
        self.workers.cancel_node(self)

    # -- getting a model and tracing ----------------------------------------------------------

    def _request_weights(self) -> None:
        assert self.control is not None
        self.weights_tag = self.control.request_weights()
        self.query_one(Readout).show(None, "Copying the weights from the training run…")
        self._status("waiting for the training thread to finish its step…")

    def weights_copied(self, event: WeightsCopied) -> None:
        """The run's answer: probe this copy (older answers and other screens' are ignored)."""
        if event.tag != self.weights_tag:
            return
        self.weights_tag = None
        if self.copied_at is None:
            self.copied_at = time.perf_counter()
        self._load(ProbeSubject.from_weights(event, sample=self.latest_sample()))

    def _load(self, subject: ProbeSubject) -> None:
        """A new model (or a new copy of it): keep the passage if it still fits, trace it."""
        self.subject = subject
        self.finder_cache.clear()
        passage = subject.passage
        if self.passage is not None and self.passage.name != "validation text":
            with contextlib.suppress(VocabError):  # the same vocabulary: it still fits
                passage = subject.passage_of(self.passage.text, self.passage.name)
        self._trace(passage)

    def _trace(self, passage: Passage) -> None:
        self.passage = passage
        self._generation += 1
        self._status(f"tracing {min(len(passage.text), VIEW_CHARS):,} characters…")
        self.trace_worker(self._generation, self.subject, passage)

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def trace_worker(self, generation: int, subject: ProbeSubject, passage: Passage) -> None:
        """Trace the shown part of the passage (warmed on the text before it) off the UI thread."""
        worker = get_current_worker()
        started = time.perf_counter()
        text, after = passage.view()
        model, params, vocab = subject.model, subject.params, subject.vocab
        try:
            ids = subject.encode(text)
            warm = subject.encode(passage.warmup[-PROBE_WARMUP_CHARS:]) if passage.warmup else None
            next_id = None if after is None else vocab.index[after]
            first = min(len(ids), FIRST_CHARS)
            head = trace(
                model,
                params,
                ids[:first],
                warm,
                next_id=int(ids[first]) if first < len(ids) else next_id,
                should_abort=lambda: worker.is_cancelled,
            )
            traced = head
            if first < len(ids):  # show the start now; the rest continues from its state
                seconds = time.perf_counter() - started
                self.post_message(
                    self.Traced(generation, text[:first], text[first], head, seconds, True)
                )
                rest = trace(
                    model,
                    params,
                    ids[first:],
                    state=head.final_state,
                    next_id=next_id,
                    should_abort=lambda: worker.is_cancelled,
                )
                traced = join_traces(head, rest)
        except ProbeCancelled:
            return
        except (ValueError, KeyError) as exc:
            self.post_message(self.Failed(generation, str(exc)))
            return
        self.post_message(
            self.Traced(generation, text, after, traced, time.perf_counter() - started)
        )

    def on_neuron_screen_failed(self, message: Failed) -> None:
        if message.generation == self._generation:
            self._status(f"cannot trace this passage: {message.error}")

    def on_neuron_screen_traced(self, message: Traced) -> None:
        if message.generation != self._generation:
            return  # an older passage or weights copy, overtaken
        continued = self.trace is not None and self._shown_partial  # the rest of the same trace
        self._shown_partial = message.partial
        self.trace, self.text, self.after = message.traced, message.text, message.after
        self._scales.clear()
        self.span_cache.clear()
        if not continued:  # a new passage or copy: the mark belonged to the old one
            self.anchor = self.span = None
        tr = message.traced
        self.layer_index = min(self.layer_index, tr.num_layers - 1)
        self.signal_name = self.signal_name if self.signal_name in tr.names else "h"
        self.unit = min(self.unit, tr.hidden_size - 1)
        self.cursor = min(self.cursor, len(self.text) - 1)
        view = self.query_one(PassageView)
        view.set_span(self.span)
        view.cursor = self.cursor
        self._recolour()
        self._read()
        if self.ready_at is None:
            self.ready_at = time.perf_counter()  # the first frame with the passage
        if message.partial:
            self._status(f"showing the first {len(self.text):,} characters; tracing the rest…")
        else:
            self.traced_at = time.perf_counter()
            self.trace_seconds = message.seconds  # kept for benchmarks, not shown (snapshots)
            warm = len(self.passage.warmup[-PROBE_WARMUP_CHARS:])
            warmed = f", warmed on the {warm:,} before them" if warm else ""
            self._status(f"traced {len(self.text):,} characters{warmed}")
        self.refresh_bindings()

    # -- drawing ------------------------------------------------------------------------------

    def scale(self) -> float:
        """What the colour divides the selected unit's signal by (1 for h and the gates; the
        unit's own robust maximum for c)."""
        key = (self.signal_name, self.layer_index, self.unit)
        if key not in self._scales:
            self._scales[key] = self.trace.display_scale(
                self.signal_name, self.layer_index, self.unit
            )
        return self._scales[key]

    def colour_values(self) -> np.ndarray:
        """(N,) what the passage is coloured by: the unit's scaled value, or the surprise."""
        if self.surprise:
            return surprise(self.trace)
        values = self.trace.signal(self.layer_index, self.signal_name)[:, self.unit] / self.scale()
        return np.clip(values, -1.0, 1.0)

    def _recolour(self) -> None:
        kind = "surprise" if self.surprise else "activation"
        self.query_one(PassageView).show(self.text, levels(self.colour_values(), kind), kind)
        self._header()

    def _read(self) -> None:
        """The readout for the cursor's character."""
        if self.trace is None:
            return
        reading = read_position(
            self.trace,
            self.text,
            self.subject.vocab,
            self.cursor,
            layer=self.layer_index,
            signal="surprise" if self.surprise else self.signal_name,
            unit=self.unit,
            scale=1.0 if self.surprise else self.scale(),
            after=self.after,
        )
        self.query_one(Readout).show(reading)

    def _header(self) -> None:
        subject, tr = self.subject, self.trace
        line = Text(
            f"Neuron view · {subject.describe} · {self.passage.name}, {len(self.text):,} chars\n"
        )
        if self.surprise:
            line.append("colour: surprise, the model's loss on each character (0 to 8+ nats)  ")
            kind = "surprise"
        else:
            line.append("colour: ")
            line.append(unit_label(self.signal_name, self.layer_index, self.unit), "bold")
            line.append(
                f" of {tr.hidden_size} · {SIGNAL_DESCRIPTIONS.get(self.signal_name, self.signal_name)}  "
            )
            kind = "activation"
        line.append_text(self._legend(kind))
        self.query_one("#neuron-header", Static).update(line)

    def _legend(self, kind: str) -> Text:
        """The palette as swatches with its ends named (the ramp under NO_COLOR)."""
        low, high = ("0", "8+") if kind == "surprise" else ("-1", "+1")
        if self.signal_name in ("i", "f", "o", "z", "r") and kind == "activation":
            low = "-1 (gates 0…1)"
        legend = Text(f"{low} ")
        if self.app.no_color:
            legend.append(RAMP)
        else:
            for colour in palette_from_theme(self.app.theme_variables, kind):
                legend.append("█", Style(color=colour.rich_color))
        legend.append(f" {high}")
        return legend

    def _status(self, message: str = "") -> None:
        """The status line: a typed unit number or the marked span first, else `message`."""
        if message:
            self._message = message
        if self.digits:
            text = f"go to unit {self.digits}_ · Enter to go, esc to cancel"
        elif self.span is not None:
            start, end = self.span
            marked = self.text[start:end]
            shown = marked[:SPAN_SHOWN].replace("\n", "⏎")
            more = "…" if len(marked) > SPAN_SHOWN else ""
            text = (
                f"marked {start:,}–{end - 1:,} '{shown}{more}' · r: rank units on it · esc: clear"
            )
        else:
            text = self._message
        self.query_one("#neuron-status", Static).update(text)

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # True: shown and enabled; None: shown dimmed; False: hidden
        if action == "refresh_weights":  # only for a view on a training run
            return (True if self.weights_tag is None else None) if self.control else False
        if action in ("close", "help"):
            return True
        if self.trace is None:
            return None
        if action == "rank_span":
            return True if self.span is not None else None
        if action == "layer":
            return True if self.trace.num_layers > 1 else None
        return True

    def _set_cursor(self, position: int) -> None:
        if self.trace is None:
            return
        self.cursor = max(0, min(len(self.text) - 1, position))
        self._paint()

    def _paint(self, *, recolour: bool = False) -> None:
        """Draw the cursor and readout (and, with `recolour`, the passage's colours) now, or
        when REPAINT_SECONDS (RECOLOUR_SECONDS for colours) have passed since the last
        drawing: a single key shows at once, a held key at that rate, and the last state is
        always the one drawn."""
        self._recolour_due |= recolour
        if self._paint_timer is not None:
            return  # already due: it will draw the latest state
        now = time.monotonic()
        wait = self._painted_at + REPAINT_SECONDS - now
        if self._recolour_due:
            wait = max(wait, self._recoloured_at + RECOLOUR_SECONDS - now)
        if wait > 0:
            self._paint_timer = self.set_timer(wait, self._paint_now)
        else:
            self._paint_now()

    def _paint_now(self) -> None:
        self._paint_timer = None
        self._painted_at = time.monotonic()
        if self._recolour_due:
            self._recolour_due = False
            self._recoloured_at = self._painted_at
            self._recolour()
        self.query_one(PassageView).set_cursor(self.cursor)
        self._read()

    @property
    def painting(self) -> bool:
        """A repaint is due (tests wait for it before reading the screen)."""
        return self._paint_timer is not None

    def action_move(self, delta: int) -> None:
        """Move the cursor by `delta` characters."""
        self._set_cursor(self.cursor + delta)

    def action_jump(self, where: int) -> None:
        """Cursor to the start (0) or end (-1)."""
        self._set_cursor(0 if where == 0 else len(self.text) - 1)

    def action_page(self, delta: int) -> None:
        """Cursor a screenful of rows up or down, to the start of that row."""
        view = self.query_one(PassageView)
        if not view.rows:
            return
        page = max(1, view.size.height // view.per_row - 1)
        row = max(0, min(len(view.rows) - 1, view.row_of[self.cursor] + delta * page))
        self._set_cursor(view.rows[row][0])

    def on_passage_view_clicked(self, message: PassageView.Clicked) -> None:
        self._set_cursor(message.position)

    def action_mark(self, delta: int) -> None:
        """Extend the marked span from where marking started to the moved cursor."""
        if self.trace is None:
            return
        if self.span is None:
            self.anchor = self.cursor
        self._set_cursor(self.cursor + delta)
        start, end = sorted((self.anchor, self.cursor))
        self.span = (start, end + 1)
        self.query_one(PassageView).set_span(self.span)
        self._status()
        self.refresh_bindings()

    def _select(
        self, *, layer: int | None = None, signal: str | None = None, unit: int | None = None
    ) -> None:
        if layer is not None:
            self.layer_index = layer
        if signal is not None:
            self.signal_name = signal
        if unit is not None:
            self.unit = unit
        self._paint(recolour=True)

    def action_unit(self, delta: int) -> None:
        """The previous or next unit (wrapping around)."""
        self.surprise = False
        self._select(unit=(self.unit + delta) % self.trace.hidden_size)

    def action_layer(self) -> None:
        """The next layer."""
        self.surprise = False
        self._select(layer=(self.layer_index + 1) % self.trace.num_layers)

    def action_signal(self) -> None:
        """The next signal the cell has: h, then c and the gates."""
        names = self.trace.names
        self.surprise = False
        self._select(signal=names[(names.index(self.signal_name) + 1) % len(names)])

    def action_surprise(self) -> None:
        """Toggle colouring by the model's loss on each character."""
        self.surprise = not self.surprise
        self._select()

    def action_digit(self, digit: int) -> None:
        """Type a digit of a unit number."""
        if self.trace is not None and len(self.digits) < 5:
            self.digits += str(digit)
            self._status()

    def action_backspace(self) -> None:
        """Erase the last typed digit."""
        self.digits = self.digits[:-1]
        self._status()

    def action_enter(self) -> None:
        """Go to the typed unit, or rank the units on the marked span."""
        if self.digits:
            unit, self.digits = int(self.digits), ""
            if unit < self.trace.hidden_size:
                self.surprise = False
                self._select(unit=unit)
                self._status(" ")
            else:
                self._status(
                    f"there is no unit {unit}: layers have {self.trace.hidden_size} (0–{self.trace.hidden_size - 1})"
                )
        elif self.span is not None:
            self.action_rank_span()

    def action_finder(self) -> None:
        """Open the cell finder on this passage (up to 20,000 characters of it)."""
        screen = FinderScreen(self.subject, self.passage, cache=self.finder_cache)
        self.app.push_screen(screen, callback=self._chosen)

    def action_rank_span(self) -> None:
        """Open the finder ranking units by the marked span."""
        if self.span is None:
            self._status("mark a span first: shift+← / shift+→ from the cursor")
            return
        query = SpanQuery(self.trace, self.text, *self.span)
        screen = FinderScreen(self.subject, self.passage, span=query, cache=self.span_cache)
        self.app.push_screen(screen, callback=self._chosen)

    def _chosen(self, choice: CellChoice | None) -> None:
        """Back from the finder: show the chosen unit."""
        if choice is not None and self.trace is not None:
            self.surprise = False
            self._select(layer=choice.layer, signal=choice.signal, unit=choice.unit)
            self._status(
                f"showing {unit_label(choice.signal, choice.layer, choice.unit)} from the finder"
            )

    def action_passage(self) -> None:
        """Choose another passage to probe."""
        sample = self.latest_sample() or self.subject.sample
        self.app.push_screen(PassageDialog(self.subject, sample), callback=self._passage_chosen)

    def _passage_chosen(self, passage: Passage | None) -> None:
        if passage is not None:
            self.cursor = 0
            self.query_one(PassageView).scroll_to(y=0, animate=False)
            self._trace(passage)

    def action_refresh_weights(self) -> None:
        """Ask the run for a fresh copy of the weights (training goes on meanwhile)."""
        if self.control is not None and self.weights_tag is None:
            self.weights_tag = self.control.request_weights()
            self._status("asked the training run for a fresh copy of the weights…")
            self.refresh_bindings()

    def action_help(self) -> None:
        """The keys and what the colours mean."""
        self.app.push_screen(KeysDialog("Neuron view", key_rows(self), ABOUT))

    def action_close(self) -> None:
        """Clear a typed number or a marked span; otherwise close the view."""
        if self.digits:
            self.digits = ""
            self._status()
        elif self.span is not None:
            self.anchor = self.span = None
            self.query_one(PassageView).set_span(None)
            self._status()
            self.refresh_bindings()
        else:
            self.dismiss(None)
