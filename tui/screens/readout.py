"""The neuron view's readout: what the model did at the character under the cursor.

`read_position` takes the numbers straight from the `Trace` (the unit's value, the probability
and loss of the character that actually came next, the top guesses for it); `Readout` shows
them, each guess with a probability bar and a percentage. Keeping the numbers in a `Reading`
lets a test compare what the screen shows with the model's own forward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from rnn_tui.engine import Vocab
from rnn_tui.engine.probe import Trace

from ..neuron_render import TOP_GUESSES, visible
from .bars import bar, char_cell, percent

READOUT_LINES = 5 + TOP_GUESSES  # character, value, next, a gap, a title, the guesses


@dataclass(frozen=True)
class Reading:
    """The numbers shown for one position of a traced passage."""

    position: int
    length: int  # characters in the passage
    char: str
    signal: str  # "h", "c", a gate name, or "surprise"
    layer: int
    unit: int
    value: float  # the unit's value after reading `char` (surprise mode: the loss on `char`)
    scale: float  # what the colour divides `value` by (1 for bounded signals)
    next_char: str | None  # the character that came next (None at the end of the text)
    next_prob: float | None  # the model's probability of it
    next_loss: float | None  # -ln next_prob, nats
    guesses: tuple[tuple[str, float], ...]  # the likeliest next characters, best first


def read_position(
    trace: Trace,
    text: str,
    vocab: Vocab,
    position: int,
    *,
    layer: int,
    signal: str,
    unit: int,
    scale: float = 1.0,
    after: str | None = None,
) -> Reading:
    """The Reading at `position`; `after` is the character following the passage, if known."""
    if signal == "surprise":
        value = float(surprise(trace)[position])
    else:
        value = float(trace.signal(layer, signal)[position, unit])
    following = text[position + 1] if position + 1 < len(text) else after
    prob = loss = None
    if following is not None:
        prob = float(trace.probs[position, vocab.index[following]])
        loss = float(trace.loss[position])
    guesses = tuple((vocab.chars[i], p) for i, p in trace.top_k(position, TOP_GUESSES))
    return Reading(
        position=position,
        length=len(text),
        char=text[position],
        signal=signal,
        layer=layer,
        unit=unit,
        value=value,
        scale=scale,
        next_char=following,
        next_prob=prob,
        next_loss=loss,
        guesses=guesses,
    )


def surprise(trace: Trace) -> np.ndarray:
    """(N,) the model's loss on each character itself, -ln p(text[t] | text before t), in nats:
    loss[t - 1] of the trace (whose loss[t] scores the character after t); NaN for the first,
    which nothing in the passage predicts. What the "surprise" colouring shows."""
    return np.concatenate(([np.nan], trace.loss[:-1]))


def quoted(ch: str) -> str:
    """A character as the readout names it: 'e', '·' for a space, '⏎' for a newline."""
    return f"'{visible(ch)}'"


def unit_label(signal: str, layer: int, unit: int) -> str:
    """'h[17] layer 1' — how the views name one unit of one signal."""
    return f"{signal}[{unit}] layer {layer}"


Parts = list[str | tuple[str, str]]  # one line: plain text and (text, style) pairs


def reading_lines(reading: Reading, width: int) -> list[Parts]:
    """The readout's READOUT_LINES lines for a Reading, fitted to `width` cells."""
    lines: list[Parts] = [
        [(quoted(reading.char), "bold"), f" at {reading.position:,} of {reading.length:,}"]
    ]
    if reading.signal == "surprise":
        if math.isnan(reading.value):
            lines.append([("surprise: nothing before it", "$text-muted")])
        else:
            lines.append(
                [
                    ("surprise ", "$text-muted"),
                    (f"{reading.value:.2f} nats", "bold"),
                    f" (p {percent(math.exp(-reading.value)).strip()})",
                ]
            )
    else:
        scaled = f" (÷{reading.scale:.3g})" if reading.scale != 1.0 else ""
        lines.append(
            [
                (unit_label(reading.signal, reading.layer, reading.unit), "$text-muted"),
                " ",
                (f"{reading.value:+.4f}", "bold"),
                scaled,
            ]
        )
    if reading.next_char is None:
        lines.append([("next: end of the passage", "$text-muted")])
    else:
        lines.append(
            [
                ("next ", "$text-muted"),
                (quoted(reading.next_char), "bold"),
                f" {percent(reading.next_prob or 0.0).strip()} · {reading.next_loss:.2f} nats",
            ]
        )
    lines += [[], [("model's next-character guesses", "$text-muted")]]
    bar_width = max(1, width - 10)
    for ch, p in reading.guesses:
        style = "bold $success" if ch == reading.next_char else "bold"
        lines.append(
            [(char_cell(ch), style), " ", (bar(p, bar_width), "$accent"), f" {percent(p)}"]
        )
    return lines + [[]] * (READOUT_LINES - len(lines))


def render_reading(reading: Reading, width: int) -> Content:
    """The readout as one Content (what the panel shows, line by line)."""
    parts: Parts = []
    for line in reading_lines(reading, width):
        parts += [*line, "\n"]
    return Content.assemble(*parts)


class Readout(Vertical):
    """The cursor's character, the unit's value there, what came next and the top guesses.

    One Static per line, each repainted only when its own text changes: a cursor move that
    leaves the guesses as they were sends the position and value lines, not the panel. The
    height is fixed (READOUT_LINES), so no update needs a layout pass."""

    DEFAULT_CSS = f"""
    Readout {{ width: 32; height: {READOUT_LINES}; padding: 0 1; background: $surface; }}
    Readout > Static {{ height: 1; text-wrap: nowrap; text-overflow: clip; }}
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reading: Reading | None = None
        self._shown: list[Parts | str] = [[] for _ in range(READOUT_LINES)]

    def compose(self) -> ComposeResult:
        for _ in range(READOUT_LINES):
            yield Static("", markup=False)

    def show(self, reading: Reading | None, message: str = "") -> None:
        """Show a reading (or a one-line message while there is none), line by line."""
        self.reading = reading
        if reading is None:
            lines: list[Parts | str] = [message] + [[] for _ in range(READOUT_LINES - 1)]
        else:
            lines = list(reading_lines(reading, max(12, self.content_region.width or 30)))
        for widget, old, new in zip(self.query(Static), self._shown, lines, strict=False):
            if new != old:
                widget.update(new if isinstance(new, str) else Content.assemble(*new), layout=False)
        self._shown = lines

    @property
    def text(self) -> str:
        """The panel's text, line by line (what a reader sees)."""
        return "\n".join(str(widget.render()) for widget in self.query(Static))
