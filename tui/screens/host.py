"""MicroscopeApp: the small app that hosts one microscope screen outside the dashboard.

`rnn-tui inspect CHECKPOINT` opens the neuron view in it and `rnn-tui sample CHECKPOINT --step`
the step-through sampler; closing that screen ends the app.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen


class MicroscopeApp(App[None]):
    """One screen on a checkpoint's model; the app ends when the screen closes."""

    TITLE = "rnn-tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, tooltip="quit"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.first_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.first_screen, callback=lambda _result: self.exit())
