"""The hidden-state heatmap: units (rows, two per terminal row) over the last characters fed."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.events import Click
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

LEVELS = 9  # quantised palette: neighbouring cells often share a style and merge
GUTTER = 5  # unit number and selection mark
HALF = "▀"  # upper half block: foreground is the upper unit, background the lower
RAMP = " .:-=+*#@"  # monochrome ramp for NO_COLOR, from -1 to +1
PLAIN = Style()  # never None: Textual's NO_COLOR filter needs a style on every segment


def quantise(values: np.ndarray) -> np.ndarray:
    """tanh values in [-1, 1] to palette levels 0..LEVELS-1 (NaN counts as 0)."""
    clean = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    return np.clip(np.rint((clean + 1.0) * (LEVELS - 1) / 2.0), 0, LEVELS - 1).astype(np.int8)


def diverging_palette(negative: Color, neutral: Color, positive: Color) -> list[Color]:
    """LEVELS colours from `negative` (-1) through `neutral` (0) to `positive` (+1)."""
    middle = (LEVELS - 1) / 2
    colours = []
    for level in range(LEVELS):
        t = (level - middle) / middle
        colours.append(neutral.blend(negative if t < 0 else positive, abs(t)))
    return colours


def show_char(ch: str) -> str:
    """One cell for a character label: visible stand-ins for space, newline and control codes."""
    if ch == " ":
        return "·"
    if ch == "\n":
        return "⏎"
    if ch == "\t":
        return "⇥"
    return ch if ch.isprintable() and len(ch) == 1 else "�"


class HiddenHeatmap(ScrollView, can_focus=True):
    """Hidden units (rows) over the last characters (columns); ↑/↓ or a click selects a unit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "select(-1)", "Unit up", show=False),
        Binding("down", "select(1)", "Unit down", show=False),
    ]

    selected: reactive[int] = reactive(0)
    """The highlighted unit."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.levels = np.zeros((0, 0), dtype=np.int8)  # (H, T)
        self.chars = ""
        self.redraws = 0
        self._styles: dict[tuple[int, int], Style] = {}
        self._palette: list[Color] = []

    @property
    def units(self) -> int:
        """Number of hidden units shown."""
        return self.levels.shape[0]

    @property
    def per_row(self) -> int:
        """Units per terminal row: two with half blocks, one in monochrome."""
        return 1 if self.app.no_color else 2

    def on_mount(self) -> None:
        self._build_palette()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._rebuild())

    def _rebuild(self) -> None:
        self._build_palette()
        self.refresh()

    def _build_palette(self) -> None:
        variables = self.app.theme_variables
        neutral = Color.parse(variables.get("surface", "#222222"))
        negative = Color.parse(variables.get("primary", "#3060ff"))
        positive = Color.parse(variables.get("error", "#ff4040"))
        self._palette = diverging_palette(negative, neutral, positive)
        self._styles = {
            (top, bottom): Style(
                color=self._palette[top].rich_color, bgcolor=self._palette[bottom].rich_color
            )
            for top in range(LEVELS)
            for bottom in range(LEVELS)
        }
        self._neutral_style = Style(bgcolor=neutral.rich_color)

    def colour(self, level: int) -> Color:
        """The palette colour of a level."""
        return self._palette[level]

    def show(self, hidden: np.ndarray, chars: str) -> bool:
        """Display a (T, H) window of hidden state; returns whether anything changed."""
        levels = quantise(hidden).T if hidden.size else np.zeros((0, 0), dtype=np.int8)
        if chars == self.chars and np.array_equal(levels, self.levels):
            return False
        self.levels, self.chars = levels, chars
        rows = -(-self.units // self.per_row)
        self.virtual_size = Size(self.scrollable_content_region.width, rows)
        self.selected = min(self.selected, max(self.units - 1, 0))
        self.redraws += 1
        self.refresh()
        return True

    def on_resize(self) -> None:
        rows = -(-self.units // self.per_row)
        self.virtual_size = Size(self.scrollable_content_region.width, rows)
        self.refresh()

    def visible_columns(self) -> int:
        """How many of the most recent characters fit beside the gutter."""
        return max(0, min(self.levels.shape[1], self.scrollable_content_region.width - GUTTER))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = y + int(self.scroll_offset.y)
        per_row = self.per_row
        first = row * per_row
        if first >= self.units or not self._styles:
            return Strip.blank(width, PLAIN)
        columns = self.visible_columns()
        top = self.levels[first, -columns:] if columns else self.levels[first, :0]
        mark = "▸" if first <= self.selected < first + per_row else " "
        gutter_style = Style(bold=True) if mark != " " else Style(dim=True)
        segments = [Segment(f"{first:>{GUTTER - 1}}{mark}", gutter_style)]
        if per_row == 1:
            text = "".join(RAMP[level] for level in top.tolist())
            segments.append(Segment(text, PLAIN))
        else:
            if first + 1 < self.units:
                bottom = self.levels[first + 1, -columns:] if columns else top
            else:
                bottom = np.full_like(top, (LEVELS - 1) // 2)
            pairs = list(zip(top.tolist(), bottom.tolist(), strict=True))
            start = 0
            for i in range(1, len(pairs) + 1):
                if i == len(pairs) or pairs[i] != pairs[start]:
                    segments.append(Segment(HALF * (i - start), self._styles[pairs[start]]))
                    start = i
        strip = Strip(segments)
        return strip.adjust_cell_length(width, PLAIN)

    def action_select(self, delta: int) -> None:
        """Move the selection up or down one unit."""
        if self.units:
            self.selected = max(0, min(self.units - 1, self.selected + delta))

    def watch_selected(self, unit: int) -> None:
        row = unit // self.per_row
        if self.size.height and not (
            self.scroll_offset.y <= row < self.scroll_offset.y + self.size.height
        ):
            self.scroll_to(y=max(0, row - self.size.height // 2), animate=False)
        self.refresh()
        parent = self.parent
        if isinstance(parent, HiddenPanel):
            parent.show_selection()

    def on_click(self, event: Click) -> None:
        row = event.y + int(self.scroll_offset.y)
        unit = row * self.per_row
        if 0 <= unit < self.units:
            self.selected = unit


class HeatmapChars(Widget):
    """The characters under the heatmap's columns, coloured by the selected unit's activation."""

    DEFAULT_CSS = """
    HeatmapChars { height: 1; }
    """

    def __init__(self, heatmap: HiddenHeatmap, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.heatmap = heatmap

    def render_line(self, y: int) -> Strip:
        heatmap = self.heatmap
        width = self.size.width
        columns = heatmap.visible_columns()
        if y != 0 or not heatmap.chars or not heatmap.units:
            return Strip.blank(width, PLAIN)
        chars = heatmap.chars[-columns:] if columns else ""
        unit = heatmap.selected
        levels = heatmap.levels[unit, -columns:].tolist() if columns else []
        segments = [Segment(" " * GUTTER, PLAIN)]
        for ch, level in zip(chars, levels, strict=False):
            if heatmap.app.no_color:
                style = Style(reverse=level > (LEVELS - 1) // 2)
            else:
                style = Style(
                    bgcolor=heatmap.colour(level).rich_color,
                    color=heatmap.colour(level).get_contrast_text().rich_color,
                )
            segments.append(Segment(show_char(ch), style))
        return Strip(segments).adjust_cell_length(width, PLAIN)


class HiddenPanel(Vertical):
    """The heatmap, its character labels and the selected unit's description."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Hidden state"

    def compose(self) -> ComposeResult:
        heatmap = HiddenHeatmap(id="heatmap")
        yield heatmap
        yield HeatmapChars(heatmap, id="heatmap-chars")

    def show(self, hidden: np.ndarray, chars: str) -> bool:
        """New hidden state; returns whether the heatmap changed."""
        changed = self.query_one(HiddenHeatmap).show(hidden, chars)
        if changed:
            self.show_selection()
        return changed

    def show_selection(self) -> None:
        """Describe the selected unit and recolour the characters by its activation."""
        heatmap = self.query_one(HiddenHeatmap)
        if heatmap.units:
            self.border_subtitle = f"unit {heatmap.selected} of {heatmap.units} · ↑↓/click"
        self.query_one(HeatmapChars).refresh()
