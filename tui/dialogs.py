"""Modal dialogs: generating a sample from the paused model, and help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, Switch

from rnn_tui.engine import ConfigError, SampleReady, Trainer, VocabError

from .widgets.sample_panel import printable


class SampleDialog(ModalScreen[None]):
    """Seed, length, temperature and greedy; shows text generated from the current model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-sample")
    ]

    def __init__(self, trainer: Trainer, *, seed: str = "The ", temperature: float = 1.0) -> None:
        super().__init__()
        self.trainer = trainer
        self.initial_seed = seed
        self.initial_temperature = temperature
        self.request_id: int | None = None
        self.result: SampleReady | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="sample-dialog") as dialog:
            dialog.border_title = f"Sample from the model at step {self.trainer.step_count:,}"
            with Grid(id="sample-form"):
                yield Label("seed")
                yield Input(
                    self.initial_seed,
                    id="sample-seed",
                    compact=True,
                    tooltip="a character or phrase from the corpus's alphabet",
                )
                yield Label("length")
                yield Input("200", id="sample-length", compact=True, type="integer")
                yield Label("temperature")
                yield Input(f"{self.initial_temperature:g}", id="sample-temperature", compact=True)
                yield Label("greedy")
                yield Switch(False, id="sample-greedy")
            yield Static("", id="sample-error", markup=False)
            with VerticalScroll(id="sample-output-scroll"):
                yield Static("Press Enter or Generate.", id="sample-output", markup=False)
            with Horizontal(id="sample-buttons"):
                yield Button("Generate", id="sample-generate", variant="primary")
                yield Button("Close", id="sample-close")

    def on_mount(self) -> None:
        self.query_one("#sample-error").display = False
        self.query_one("#sample-seed", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#sample-generate")
    def generate(self) -> None:
        """Validate the form and ask the trainer for a sample."""
        error = self.query_one("#sample-error", Static)
        seed = self.query_one("#sample-seed", Input).value
        try:
            length = int(self.query_one("#sample-length", Input).value or "0")
            temperature = float(self.query_one("#sample-temperature", Input).value or "nan")
        except ValueError:
            self._error("length must be a whole number and temperature a number")
            return
        greedy = self.query_one("#sample-greedy", Switch).value
        try:
            self.request_id = self.trainer.request_sample(seed, length, temperature, greedy=greedy)
        except (ConfigError, VocabError, ValueError) as exc:
            self._error(str(exc))
            return
        error.display = False
        self.result = None
        self.query_one("#sample-output", Static).update("Generating…")

    def _error(self, message: str) -> None:
        error = self.query_one("#sample-error", Static)
        error.update(message)
        error.display = True

    def show_sample(self, event: SampleReady) -> None:
        """Display a requested sample if it is the one this dialog asked for."""
        if event.request_id != self.request_id:
            return
        self.result = event
        continuation = event.text[len(event.seed) :]
        self.query_one("#sample-output", Static).update(
            Content.assemble((printable(event.seed), "bold $accent"), printable(continuation))
        )

    @on(Button.Pressed, "#sample-close")
    def close(self) -> None:
        """Close the dialog."""
        self.dismiss()


HELP_KEYS = (
    ("space", "pause or resume training"),
    ("s", "save a checkpoint now"),
    ("g", "generate a sample from the paused model"),
    ("r", "after a divergence: roll back to the last good checkpoint, learning rate / 10"),
    ("q / ctrl+c", "save a checkpoint and quit"),
    ("?", "this help"),
    ("tab", "move between the hyperparameters and the heatmap"),
    ("enter / esc", "apply / revert a hyperparameter"),
    ("↑ ↓", "select a hidden unit (heatmap focused)"),
)


class HelpDialog(ModalScreen[None]):
    """Keys, what the panels show, and the corpus x-ray."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-help"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, corpus_lines: Sequence[str] = ()) -> None:
        super().__init__()
        self.corpus_lines = tuple(corpus_lines)

    def compose(self) -> ComposeResult:
        parts: list[str | tuple[str, str]] = [("Keys\n", "bold $accent")]
        for key, what in HELP_KEYS:
            parts += [(f"  {key:<12}", "bold"), f"{what}\n"]
        parts += [
            ("\nPanels\n", "bold $accent"),
            "  Loss: smoothed training loss and validation loss per character (log scale),\n"
            "  the uniform baseline ln V, and a mark where a hyperparameter changed.\n"
            "  Hidden state: blue is -1, red +1; two units per row; the characters\n"
            "  underneath are coloured by the selected unit.\n",
        ]
        if self.corpus_lines:
            parts.append(("\nCorpus\n", "bold $accent"))
            parts += [f"  {line}\n" for line in self.corpus_lines]
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = "Help"
            dialog.border_subtitle = "esc to close"
            yield Static(Content.assemble(*parts), markup=False)
