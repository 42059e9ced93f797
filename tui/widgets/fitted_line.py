"""A line of text made for the width it is drawn at."""

from __future__ import annotations

from collections.abc import Callable

from textual.content import Content
from textual.widget import Widget


class FittedLine(Widget):
    """One line whose text depends on its width (cut to fit). The text is made again at the
    width the line has each time it is drawn, so neither a first paint before the layout knew a
    width nor a resize leaves text cut for another width."""

    DEFAULT_CSS = """
    FittedLine { height: 1; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._make: Callable[[int], Content] | None = None
        self._drawn = Content("")

    def fit(self, make: Callable[[int], Content] | None) -> None:
        """Show `make(width)` from now on (None: nothing); repaint only if the text changes."""
        self._make = make
        if self._text(self.size.width) != self._drawn:
            self.refresh()

    def _text(self, width: int) -> Content:
        return self._make(width) if self._make is not None and width > 0 else Content("")

    def render(self) -> Content:
        self._drawn = self._text(self.size.width)
        return self._drawn
