"""The microscope screens' help: every key of a screen, from its BINDINGS and their tooltips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..widgets.keybar import KeyBar


def key_rows(screen: Screen, extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(keys, what they do) for every binding of `screen`, keys sharing a tooltip on one row."""
    rows: dict[str, list[str]] = {}
    for binding in screen.BINDINGS:
        assert isinstance(binding, Binding)
        what = binding.tooltip or binding.description
        shown = binding.key_display or screen.app.get_key_display(binding)
        if shown not in rows.setdefault(what, []):
            rows[what].append(shown)
    return [(" ".join(keys), what) for what, keys in rows.items()] + list(extra)


class KeysDialog(ModalScreen[None]):
    """A list of keys and what they do, with a paragraph about the screen; esc closes it."""

    DEFAULT_CSS = """
    KeysDialog { align: center middle; }
    #keys-dialog {
        width: 86; max-width: 100%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-keys"),
        Binding("f1", "dismiss", "Close", show=False),
    ]

    def __init__(self, title: str, rows: Sequence[tuple[str, str]], about: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.rows = tuple(rows)
        self.about = about

    def compose(self) -> ComposeResult:
        width = max((len(keys) for keys, _ in self.rows), default=8) + 2
        width = min(width, 22)
        parts: list[str | tuple[str, str]] = [("Keys\n", "bold $accent")]
        for keys, what in self.rows:
            parts += [(f"  {keys:<{width}}", "bold"), f"{what}\n"]
        if self.about:
            parts += [("\nWhat it shows\n", "bold $accent"), self.about]
        with VerticalScroll(id="keys-dialog") as dialog:
            dialog.border_title = self.title_text
            dialog.border_subtitle = "esc to close"
            yield Static(Content.assemble(*parts), markup=False)


class FittingKeyBar(KeyBar):
    """The key bar, keeping only the hints that fit whole: the rest are in the help (?), so a
    narrow terminal shows the first few keys instead of a hint cut in the middle."""

    def on_resize(self) -> None:
        self.keys = None  # the width changed: what fits may have too
        self.show_keys()

    def show_keys(self) -> None:
        width = self.size.width or 80
        keys = []
        used = 0
        for active in self.screen.active_bindings.values():
            if not active.binding.show:
                continue
            key = self.app.get_key_display(active.binding)
            cells = cell_len(key) + cell_len(active.binding.description) + 3  # " key desc "
            if used + cells > width:
                break
            used += cells
            keys.append((key, active.binding.description, active.enabled))
        if tuple(keys) == self.keys:
            return
        self.keys = tuple(keys)
        parts: list[str | tuple[str, str]] = []
        for key, description, enabled in keys:
            if enabled:
                parts += [(f" {key} ", "bold $footer-key-foreground"), f"{description} "]
            else:
                parts += [(f" {key} {description} ", "$text-disabled")]
        self.update(Content.assemble(*parts), layout=False)
