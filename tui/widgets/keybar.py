"""The key bar: a one-line footer listing the screen's active bindings, repainted in place.

Textual's `Footer` rebuilds its children whenever the bindings change, which costs a layout pass
and a repaint of the whole screen; pausing flips Pause to Resume, so this bar instead renders the
same `active_bindings` (filtered by `check_action`) as one line of text.
"""

from __future__ import annotations

from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    """Truthful key hints: each shown binding's key and description, dim when disabled."""

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; width: 1fr; background: $footer-background; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.keys: tuple[tuple[str, str, bool], ...] | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self.show_keys)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self.show_keys()

    def show_keys(self) -> None:
        """Render the screen's active bindings (only when they changed)."""
        keys = tuple(
            (self.app.get_key_display(active.binding), active.binding.description, active.enabled)
            for active in self.screen.active_bindings.values()
            if active.binding.show
        )
        if keys == self.keys:
            return
        self.keys = keys
        parts: list[str | tuple[str, str]] = []
        for key, description, enabled in keys:
            if enabled:
                parts += [(f" {key} ", "bold $footer-key-foreground"), f"{description} "]
            else:
                parts += [(f" {key} {description} ", "$text-disabled")]
        self.update(Content.assemble(*parts), layout=False)
