"""The hyperparameter panel: live settings edited in place, validated by the trainer."""

from __future__ import annotations

from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

HPARAM_LABELS = {
    "learning_rate": "lr",
    "temperature": "temp",
    "sample_length": "length",
    "sample_every": "every",
    "clip": "clip",
}
HPARAM_HELP = {
    "learning_rate": "learning rate of the optimiser (Enter to apply)",
    "temperature": "sampling temperature: lower is safer, higher is wilder",
    "sample_length": "characters in each periodic sample",
    "sample_every": "steps between periodic samples (0: never)",
    "clip": "gradient clipping value",
}


def format_value(value: float) -> str:
    """A hyperparameter as the user would type it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


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
            for name, label in HPARAM_LABELS.items():
                yield Label(label, classes="hp-label")
                yield Input(
                    format_value(self.values.get(name, 0)),
                    id=f"hp-{name}",
                    compact=True,
                    tooltip=HPARAM_HELP[name],
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
        error.update(message)
        error.display = True
        for field in self.query(Input):
            field.set_class(field.id == f"hp-{name}", "-invalid-value")

    def clear_error(self) -> None:
        """Remove the inline error."""
        self.query_one("#hp-error").display = False
        for field in self.query(Input):
            field.remove_class("-invalid-value")

    def show(self, values: Mapping[str, float], scheduled_rate: float | None = None) -> None:
        """Reflect the trainer's live values in every input not being edited.

        Under a learning-rate schedule the `lr` input holds the schedule's base; the rate in use
        goes in the border's subtitle, so a decayed run does not look like it trains at the base.
        """
        subtitle = "" if scheduled_rate is None else f"lr now {scheduled_rate:.2g}"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
        if dict(values) == self.values:
            return
        self.values = dict(values)
        for name, value in self.values.items():
            if name not in HPARAM_LABELS:
                continue
            field = self.input_for(name)
            if not field.has_focus and "-invalid-value" not in field.classes:
                text = format_value(value)
                if field.value != text:
                    field.value = text
