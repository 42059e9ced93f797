"""Choosing the neuron view's passage: the validation text, the latest sample, a file, or text
typed in. Returns a `Passage` of the model's vocabulary, or says in one line why it cannot."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from rnn_tui.engine import VocabError

from .subject import Passage, ProbeSubject

MAX_FILE_BYTES = 1 << 20  # a passage file is read whole; the view shows its start


class PassageError(ValueError):
    """A passage that cannot be used, with what to do instead."""


def read_passage_file(path: str) -> str:
    """A text file's contents for probing (UTF-8, newlines normalised); PassageError if not."""
    file = Path(path).expanduser()
    try:
        if not file.is_file():
            raise PassageError(f"{path}: no such file (or not a regular file)")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise PassageError(
                f"{path} is larger than {MAX_FILE_BYTES:,} bytes; use a shorter file"
            )
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PassageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PassageError(f"{path} is not UTF-8 text") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


class PassageDialog(ModalScreen[Passage | None]):
    """Pick the text the neuron view probes."""

    DEFAULT_CSS = """
    PassageDialog { align: center middle; }
    #passage-dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    #passage-dialog Horizontal { height: auto; margin-bottom: 1; }
    #passage-dialog Button { margin-right: 1; }
    #passage-dialog Label { width: 6; color: $text-muted; padding-top: 1; }
    #passage-file { width: 1fr; }
    #passage-typed { height: 5; width: 1fr; }
    #passage-error { color: $error; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-passage")
    ]

    def __init__(self, subject: ProbeSubject, sample: str = "") -> None:
        super().__init__()
        self.subject = subject
        self.sample = sample

    def compose(self) -> ComposeResult:
        with Vertical(id="passage-dialog") as dialog:
            dialog.border_title = "Passage to probe"
            with Horizontal():
                yield Button("Validation text", id="passage-validation", variant="primary")
                yield Button("Latest sample", id="passage-sample", disabled=not self.sample)
            with Horizontal():
                yield Label("file")
                yield Input(placeholder="path to a UTF-8 text file", id="passage-file")
                yield Button("Open", id="passage-open")
            with Horizontal():
                yield Label("text")
                yield TextArea(id="passage-typed")
            with Horizontal():
                yield Button("Use typed text", id="passage-use-typed")
                yield Button("Cancel", id="passage-cancel")
            yield Static("", id="passage-error", markup=False)

    @on(Button.Pressed, "#passage-validation")
    def validation(self) -> None:
        """The default: the run's validation text, warmed on the text before it."""
        self.dismiss(self.subject.passage)

    @on(Button.Pressed, "#passage-sample")
    def latest_sample(self) -> None:
        """The latest sample the run generated."""
        self._choose(self.sample, "latest sample")

    @on(Input.Submitted, "#passage-file")
    @on(Button.Pressed, "#passage-open")
    def open_file(self) -> None:
        """A text file, read whole."""
        path = self.query_one("#passage-file", Input).value.strip()
        if not path:
            self._error("type the path of a text file first")
            return
        try:
            text = read_passage_file(path)
        except PassageError as exc:
            self._error(str(exc))
            return
        self._choose(text, f"file {Path(path).name}")

    @on(Button.Pressed, "#passage-use-typed")
    def use_typed(self) -> None:
        """Whatever was typed in the box."""
        self._choose(self.query_one("#passage-typed", TextArea).text, "typed text")

    @on(Button.Pressed, "#passage-cancel")
    def cancel(self) -> None:
        """Keep the current passage."""
        self.dismiss(None)

    def _choose(self, text: str, name: str) -> None:
        try:
            self.dismiss(self.subject.passage_of(text, name))
        except VocabError as exc:
            self._error(str(exc))

    def _error(self, message: str) -> None:
        self.query_one("#passage-error", Static).update(message)
