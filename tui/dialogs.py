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

from rnn_tui.engine import ConfigError, SampleReady, VocabError
from rnn_tui.engine.control import RunControl
from rnn_tui.engine.events import WeightsCopied

from .screens.stepper import StepperScreen
from .screens.subject import ProbeSubject, WeightsReceiver
from .widgets.sample_panel import printable


class SampleDialog(ModalScreen[None], WeightsReceiver):
    """Seed, length, temperature, top-k and greedy; shows text generated from the current model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-sample")
    ]

    def __init__(
        self, control: RunControl, *, step: int = 0, seed: str = "The ", temperature: float = 1.0
    ) -> None:
        super().__init__()
        self.control = control
        self.step = step
        self.initial_seed = seed
        self.initial_temperature = temperature
        self.request_tag: str | None = None
        self.result: SampleReady | None = None
        self.weights_tag: str | None = None  # Step asked for a copy of the weights
        self.step_settings: tuple[str, float, int] = ("", 1.0, 0)

    def compose(self) -> ComposeResult:
        with Vertical(id="sample-dialog") as dialog:
            dialog.border_title = f"Sample from the model at step {self.step:,}"
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
                yield Label("top-k")
                yield Input(
                    "0",
                    id="sample-top-k",
                    compact=True,
                    type="integer",
                    tooltip="draw only from the k likeliest characters (0: all of them)",
                )
                yield Label("greedy")
                yield Switch(False, id="sample-greedy")
            yield Static("", id="sample-error", markup=False)
            with VerticalScroll(id="sample-output-scroll"):
                yield Static("Press Enter or Generate.", id="sample-output", markup=False)
            with Horizontal(id="sample-buttons"):
                yield Button("Generate", id="sample-generate", variant="primary")
                yield Button(
                    "Step",
                    id="sample-step",
                    tooltip="one character at a time: the candidates, draw, pick, force, undo",
                )
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
            top_k = int(self.query_one("#sample-top-k", Input).value or "0")
        except ValueError:
            self._error("length and top-k must be whole numbers and temperature a number")
            return
        greedy = self.query_one("#sample-greedy", Switch).value
        try:
            self.request_tag = self.control.request_sample(
                seed, length, temperature, greedy=greedy, top_k=top_k
            )
        except (ConfigError, VocabError, ValueError) as exc:
            self._error(str(exc))
            return
        error.display = False
        self.result = None
        self.query_one("#sample-output", Static).update("Generating…")

    @on(Button.Pressed, "#sample-step")
    def step(self) -> None:
        """Open the step-through sampler on a copy of the weights, from this seed."""
        seed = self.query_one("#sample-seed", Input).value
        try:
            temperature = float(self.query_one("#sample-temperature", Input).value or "nan")
            top_k = int(self.query_one("#sample-top-k", Input).value or "0")
        except ValueError:
            self._error("top-k must be a whole number and temperature a number")
            return
        self.step_settings = (seed, temperature, top_k)
        self.weights_tag = self.control.request_weights()
        self.query_one("#sample-output", Static).update("Copying the weights…")

    def weights_copied(self, event: WeightsCopied) -> None:
        """The copy Step asked for: open the step-through sampler on it."""
        if event.tag != self.weights_tag:
            return
        self.weights_tag = None
        subject = ProbeSubject.from_weights(event)
        seed, temperature, top_k = self.step_settings
        try:
            screen = StepperScreen(
                subject.model,
                subject.params,
                subject.vocab,
                seed,
                seed=subject.seed,
                temperature=temperature,
                top_k=top_k,
                describe=subject.describe,
            )
        except (VocabError, ValueError) as exc:
            self._error(str(exc))
            return
        self.query_one("#sample-output", Static).update("Press Enter or Generate.")
        self.app.push_screen(screen)

    def _error(self, message: str) -> None:
        error = self.query_one("#sample-error", Static)
        error.update(message)
        error.display = True

    def show_sample(self, event: SampleReady) -> None:
        """Display a requested sample if it is the one this dialog asked for."""
        if event.tag != self.request_tag:
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


# Keys that belong to widgets rather than to a screen's BINDINGS.
WIDGET_KEYS = (
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

    def __init__(
        self, keys: Sequence[tuple[str, str]] = (), corpus_lines: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.keys = (*keys, *WIDGET_KEYS)
        self.corpus_lines = tuple(corpus_lines)

    def compose(self) -> ComposeResult:
        parts: list[str | tuple[str, str]] = [("Keys\n", "bold $accent")]
        for key, what in self.keys:
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
