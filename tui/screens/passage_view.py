"""PassageView: a passage drawn character by character on a background set by per-character levels.

The terminal half of the neuron view (and of the step-through sampler's text): the text wraps at
the widget's width exactly as `neuron_render.render_ansi` wraps it (the same row layout and the
same palette), newlines and spaces are visible as in the heatmap labels, a cursor and a marked
span sit on top. Under NO_COLOR each text row is followed by a ramp row (the heatmap's ramp, one
mark per character), as `render_ansi(color=False)` prints it.

Repaints are row by row: every update compares each row's signature (its characters' levels,
the cursor, the span) with what was drawn and refreshes only what changed: a cursor move
repaints the two characters it leaves and enters, a new colouring the rows on screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..neuron_render import Kind, _rows, palette_from_theme, visible
from ..widgets.heatmap import RAMP

PLAIN = Style()  # never None: Textual's NO_COLOR filter needs a style on every segment
CURSOR = Style(reverse=True, bold=True)
MARKED = Style(underline=True)

# a drawn row: first position, its text, its levels, the cursor's column, the span's part
Signature = tuple[int, str, tuple[int, ...], int, int, int]


class PassageView(ScrollView, can_focus=False):
    """Text coloured by levels (0..LEVELS-1 per character), with a cursor and a marked span."""

    DEFAULT_CSS = """
    PassageView {
        height: 1fr;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    """

    class Clicked(Message):
        """A character was clicked: move the cursor there."""

        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""
        self.levels: list[int] = []  # (N,) palette level per character
        self.kind: Kind = "activation"
        self.cursor: int | None = None
        self.span: tuple[int, int] | None = None  # [start, end) marked
        self.rows: list[list[int]] = []  # character positions per row
        self.row_of: list[int] = []  # (N,) the row of each character
        self.lines_rendered = 0  # render_line calls, for tests and benchmarks of repaint cost
        self._drawn: list[Signature] = []
        self._width = 0
        self._styles: dict[Kind, list[Style]] = {}

    # -- what to show -------------------------------------------------------------------------

    def show(
        self, text: str, levels: Sequence[int] | np.ndarray, kind: Kind = "activation"
    ) -> None:
        """New text or new colours (levels (N,) in 0..LEVELS-1); repaint the rows that changed."""
        levels = [int(v) for v in np.asarray(levels).tolist()]
        if len(levels) != len(text):
            raise ValueError(f"{len(levels)} levels for {len(text)} characters")
        relayout = text != self.text
        if kind != self.kind:  # the same levels in another palette: every row changes
            self._drawn = []
            self.refresh()
        self.text, self.levels, self.kind = text, levels, kind
        if self.cursor is not None and self.cursor >= len(text):
            self.cursor = len(text) - 1 if text else None
        self._update(relayout)

    def set_cursor(self, position: int | None) -> None:
        """Put the cursor on a character (None: no cursor); repaints its old and new rows."""
        self.cursor = None if position is None else max(0, min(len(self.text) - 1, position))
        self._update()

    def set_span(self, span: tuple[int, int] | None) -> None:
        """Mark [start, end) (None: no mark); repaints the rows it enters or leaves."""
        self.span = span
        self._update()

    def _update(self, relayout: bool = False) -> None:
        width = self._content_width()
        if relayout or width != self._width:
            self._layout(repaint_all=width != self._width)
        self._repaint_changed()
        self.follow_cursor()

    @property
    def per_row(self) -> int:
        """Terminal lines per row of text: two under NO_COLOR (the text and its ramp)."""
        return 2 if self.app.no_color else 1

    def _content_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _layout(self, repaint_all: bool) -> None:
        """Wrap the text at the current width, as render_ansi does. A new width repaints all;
        new text (a character appended) leaves the repaint to the row comparison."""
        self._width = self._content_width()
        self.rows = _rows(self.text, self._width) if self.text else []
        self.row_of = [0] * len(self.text)
        for r, row in enumerate(self.rows):
            for p in row:
                self.row_of[p] = r
        self.virtual_size = Size(self._width, len(self.rows) * self.per_row)
        if repaint_all:
            self._drawn = []
            self.refresh()

    def _signature(self, row: list[int]) -> Signature:
        first, last = row[0], row[-1]
        cursor = (
            self.cursor - first if self.cursor is not None and first <= self.cursor <= last else -1
        )
        start, end = -1, -1
        if self.span is not None and self.span[0] <= last and self.span[1] > first:
            start, end = max(self.span[0], first), min(self.span[1], last + 1)
        return (
            first,
            self.text[first : last + 1],
            tuple(self.levels[first : last + 1]),
            cursor,
            start,
            end,
        )

    def _repaint_changed(self) -> None:
        """Refresh what differs from what was drawn: a row that only gained or lost the cursor
        repaints just those cells (a cursor move sends a few bytes, not two rows of colour);
        any other change repaints its row (rows that appeared or disappeared included)."""
        signatures = [self._signature(row) for row in self.rows]
        per = self.per_row
        for r in range(max(len(signatures), len(self._drawn))):
            if r < len(signatures) and r < len(self._drawn):
                new, old = signatures[r], self._drawn[r]
                if new == old:
                    continue
                if new[:3] == old[:3] and new[4:] == old[4:]:  # the cursor alone moved
                    for column in (old[3], new[3]):
                        if column >= 0:
                            self._refresh_cell(r, column)
                    continue
            self.refresh_lines(r * per, per)
        self._drawn = signatures

    def _refresh_cell(self, r: int, column: int) -> None:
        """Repaint one character of row r (column: its index within the row)."""
        row = self.rows[r]
        x = sum(cell_len(visible(self.text[p])) for p in row[:column])
        width = cell_len(visible(self.text[row[column]]))
        y = r * self.per_row - int(self.scroll_offset.y)
        self.refresh(Region(x, y, width, 1))

    def follow_cursor(self) -> None:
        """Scroll so the cursor's row is on screen (a scroll repaints the view)."""
        if self.cursor is None or not self.rows or not self.size.height:
            return
        top = self.row_of[self.cursor] * self.per_row
        height = self.size.height
        if not (
            self.scroll_offset.y <= top and top + self.per_row <= self.scroll_offset.y + height
        ):
            self.scroll_to(y=max(0, top - height // 3), animate=False)

    def scroll_to_end(self) -> None:
        """Show the last rows (the step-through sampler's newest characters)."""
        self.scroll_to(y=max(0, self.virtual_size.height - self.size.height), animate=False)

    # -- drawing ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._build_styles()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def _restyle(self) -> None:
        self._build_styles()
        self.refresh()

    def _build_styles(self) -> None:
        """One style per level and kind: the shared palette in the theme's colours."""
        variables = self.app.theme_variables
        self._styles = {
            kind: [
                Style(bgcolor=c.rich_color, color=c.get_contrast_text(1.0).rich_color)
                for c in palette_from_theme(variables, kind)
            ]
            for kind in ("activation", "surprise")
        }

    def on_resize(self) -> None:
        if self._content_width() != self._width:
            self._layout(repaint_all=True)
            self._drawn = [self._signature(row) for row in self.rows]
            self.follow_cursor()

    def render_line(self, y: int) -> Strip:
        self.lines_rendered += 1
        width = self.scrollable_content_region.width
        per = self.per_row
        r, sub = divmod(y + int(self.scroll_offset.y), per)
        if r >= len(self.rows) or not self._styles:
            return Strip.blank(width, PLAIN)
        row = self.rows[r]
        if sub == 1:  # the NO_COLOR ramp under the text row
            ramp = "".join(
                RAMP[self.levels[p]] + " " * (cell_len(visible(self.text[p])) - 1) for p in row
            )
            return Strip([Segment(ramp, PLAIN)]).adjust_cell_length(width, PLAIN)
        colour = not self.app.no_color
        styles = self._styles[self.kind]
        segments: list[Segment] = []
        run, run_style = "", None
        for p in row:
            style = styles[self.levels[p]] if colour else PLAIN
            if self.span is not None and self.span[0] <= p < self.span[1]:
                style = style + MARKED
            if p == self.cursor:
                style = style + CURSOR
            if style != run_style and run:
                segments.append(Segment(run, run_style))
                run = ""
            run, run_style = run + visible(self.text[p]), style
        if run:
            segments.append(Segment(run, run_style))
        return Strip(segments).adjust_cell_length(width, PLAIN)

    def on_click(self, event: Click) -> None:
        r, _ = divmod(event.y + int(self.scroll_offset.y), self.per_row)
        if not 0 <= r < len(self.rows):
            return
        x = 0
        for p in self.rows[r]:
            x += cell_len(visible(self.text[p]))
            if event.x < x:
                self.post_message(self.Clicked(p))
                return
        self.post_message(self.Clicked(self.rows[r][-1]))
