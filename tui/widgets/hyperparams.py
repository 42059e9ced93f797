"""The hyperparameter panel: the live settings edited in place, validated by the run.

One input per setting declared live on engine.config.Config, labelled and explained by its
declaration: a new live setting appears here without touching this file.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from rnn_tui.engine.config import LIVE_HPARAMS, SETTINGS

from ..formatting import format_value


def input_tooltip(name: str) -> str:
    """What the setting does, what it accepts, and how to apply it."""
    spec = SETTINGS[name]
    allowed = spec.describe_range()
    return f"{spec.help}" + (f"; {allowed}" if allowed else "") + " (Enter to apply, Esc to revert)"


class HyperparameterPanel(Vertical):
    """One compact input per live hyperparameter; Enter applies, Escape reverts."""

    class Submitted(Message):
        """The user asked for a new value of one hyperparameter."""

        def __init__(self, hparam: str, text: str) -> None:
            super().__init__()
            self.hparam = hparam
            self.text = text

    def __init__(self, values: Mapping[str, float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.values = dict(values)
        self.border_title = "Hyperparameters"

    def compose(self) -> ComposeResult:
        with Grid(id="hp-grid"):
            for name in LIVE_HPARAMS:
                yield Label(SETTINGS[name].label or name, classes="hp-label")
                yield Input(
                    format_value(self.values.get(name, 0)),
                    id=f"hp-{name}",
                    compact=True,
                    tooltip=input_tooltip(name),
                    select_on_focus=True,
                )
        yield Static("", id="hp-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#hp-error").display = False

    def input_for(self, name: str) -> Input:
        """The input that edits `name`."""
        return self.query_one(f"#hp-{name}", Input)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = (event.input.id or "").removeprefix("hp-")
        self.post_message(self.Submitted(name, event.value.strip()))

    def on_key(self, event) -> None:
        if event.key == "escape" and isinstance(self.app.focused, Input):
            name = (self.app.focused.id or "").removeprefix("hp-")
            self.app.focused.value = format_value(self.values.get(name, 0))
            self.clear_error()
            self.screen.set_focus(None)
            event.stop()

    def show_error(self, name: str, message: str) -> None:
        """An inline error under the inputs; the input stays as typed so it can be fixed."""
        error = self.query_one("#hp-error", Static)
        error.update(" ".join(message.split()))  # one line, cut to the panel's width
        error.tooltip = message
        error.display = True
        for field in self.query(Input):
            field.set_class(field.id == f"hp-{name}", "-invalid-value")

    def clear_error(self) -> None:
        """Remove the inline error."""
        self.query_one("#hp-error").display = False
        for field in self.query(Input):
            field.remove_class("-invalid-value")

    def show(
        self, values: Mapping[str, float], scheduled_rate: float | None = None, schedule: str = ""
    ) -> None:
        """Reflect the trainer's live values in every input not being edited.

        Under a learning-rate schedule the `lr` input holds the schedule's base; the rate in use
        and the schedule with its horizon go in the border's subtitle ("lr 0.0031 · cosine
        2:10/5:00"), so a decayed run does not look like it trains at the base.
        """
        subtitle = ""
        if scheduled_rate is not None:
            subtitle = f"lr {scheduled_rate:.2g}" + (f" · {schedule}" if schedule else "")
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
        if dict(values) == self.values:
            return
        self.values = dict(values)
        for name, value in self.values.items():
            if name not in LIVE_HPARAMS:
                continue
            field = self.input_for(name)
            if not field.has_focus and "-invalid-value" not in field.classes:
                text = format_value(value)
                if field.value != text:
                    field.value = text
