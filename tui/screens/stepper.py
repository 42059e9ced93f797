"""The step-through sampler: generate one character at a time, seeing the model's candidates.

A screen over engine.stepper.StepSampler. The ten likeliest next characters are shown with
probability bars at the current temperature and top-k; Enter draws from that distribution
(exactly as `rnn-tui sample` does, so a run of Enters with the same seed writes the same text),
1-9 takes a candidate, typing any character of the vocabulary forces it (a backslash first
forces a key that has a job here: 1-9, +, -, a backslash, Enter for a newline), Backspace undoes
a step (the hidden state, the text and the random stream go back), +/- change the temperature
and the bars follow at once. The text is coloured by surprise, the model's loss on each
character; the prime is underlined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Static

from rnn_tui.engine import CharModel, Vocab, VocabError
from rnn_tui.engine.stepper import StepRecord, StepSampler

from ..neuron_render import levels, palette_from_theme
from ..widgets.heatmap import RAMP
from .bars import bar, char_cell, percent
from .keys import FittingKeyBar, KeysDialog, key_rows
from .passage_view import PassageView
from .readout import quoted

CANDIDATES = 10
TEMPERATURE_STEP = 0.1
TEMPERATURE_RANGE = (0.1, 5.0)
LITERAL_KEYS = {"enter": "\n", "tab": "\t"}  # after a backslash, these keys force these characters
HOW = {"drawn": "drew", "picked": "picked", "forced": "forced"}

ABOUT = (
    "The text is the prime (underlined) and what has been generated, each character coloured\n"
    "by the model's loss on it: dark where it expected the character, bright where it was\n"
    "surprised (0 to 8+ nats). The candidates are the ten characters the model ranks highest\n"
    "for the next position, with their probabilities at the current temperature and top-k.\n"
    "A forced character need not be likely at all: its surprise shows how unlikely it was.\n"
)


class StepperScreen(Screen[None]):
    """One character at a time: draw, pick, force, undo, and change the temperature."""

    DEFAULT_CSS = """
    StepperScreen { background: $background; }
    #step-header { height: 2; padding: 0 1; background: $surface; color: $text; }
    #step-body { height: 1fr; }
    #step-text { width: 1fr; border-right: vkey $primary 40%; }
    #step-candidates { width: 34; height: 1fr; padding: 0 1; background: $surface; }
    #step-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "draw", "draw", tooltip="draw the next character from the distribution"),
        Binding(
            "1", "pick(1)", "pick", key_display="1-9", tooltip="take the candidate of that rank"
        ),
        *[
            Binding(
                str(n), f"pick({n})", "pick", show=False, tooltip="take the candidate of that rank"
            )
            for n in range(2, 10)
        ],
        Binding(
            "backspace",
            "undo",
            "undo",
            key_display="⌫",
            tooltip="undo the last step (state, text and random stream go back)",
        ),
        Binding(
            "plus", "temperature(1)", "T", key_display="+-", tooltip="temperature up / down by 0.1"
        ),
        Binding(
            "minus", "temperature(-1)", "T", show=False, tooltip="temperature up / down by 0.1"
        ),
        Binding(
            "backslash",
            "literal",
            "force key",
            key_display="\\",
            tooltip="force the next key as a character even if it has a job here "
            "(1-9, +, -, \\; Enter: a newline). Other characters: just type them",
        ),
        Binding("f1", "help", "help", tooltip="these keys"),
        Binding("escape", "close", "close", tooltip="close the sampler"),
    ]

    def __init__(
        self,
        model: CharModel,
        params: Mapping[str, np.ndarray],
        vocab: Vocab,
        prime: str,
        *,
        seed: int = 0,
        temperature: float = 1.0,
        top_k: int = 0,
        describe: str = "",
    ) -> None:
        super().__init__()
        # StepSampler checks the prime, temperature and top-k (VocabError, ValueError)
        self.sampler = StepSampler(
            model,
            dict(params),
            vocab,
            prime,
            np.random.default_rng(seed),
            temperature=temperature,
            top_k=top_k,
        )
        self.seed = seed
        self.describe = describe
        self.literal = False  # a backslash was pressed: the next key is a character
        self._bound = {b.key for b in self.BINDINGS if isinstance(b, Binding)}

    def compose(self) -> ComposeResult:
        yield Static("", id="step-header")
        with Horizontal(id="step-body"):
            yield PassageView(id="step-text")
            yield Static("", id="step-candidates", markup=False)
        yield Static("", id="step-status", markup=False)
        yield FittingKeyBar(id="step-keys")

    def on_mount(self) -> None:
        self._redraw("Enter draws, 1-9 picks, any character forces it, Backspace undoes")

    def on_resize(self) -> None:
        self._show_candidates()

    # -- drawing ------------------------------------------------------------------------------

    def _redraw(self, message: str) -> None:
        sampler = self.sampler
        view = self.query_one(PassageView)
        view.span = (0, len(sampler.prime))  # the prime, underlined
        view.show(sampler.text, levels(sampler.surprise(), "surprise"), "surprise")
        view.scroll_to_end()
        self._show_candidates()
        self._header()
        self.query_one("#step-status", Static).update(message)

    def _show_candidates(self) -> None:
        sampler = self.sampler
        panel = self.query_one("#step-candidates", Static)
        bar_width = max(4, (panel.content_region.width or 32) - 13)  # rank, char, percent
        parts: list[str | tuple[str, str]] = [
            (f"next character (T {sampler.temperature:.2f})\n", "$text-muted")
        ]
        for rank, c in enumerate(sampler.candidates(CANDIDATES), 1):
            parts += [
                (f"{rank:>2} ", "bold" if rank < 10 else "$text-muted"),
                (char_cell(c.char), "bold"),
                " ",
                (bar(c.prob, bar_width), "$accent"),
                f" {percent(c.prob)}\n",
            ]
        panel.update(Content.assemble(*parts), layout=False)

    def _header(self) -> None:
        sampler = self.sampler
        top_k = f"top-k {sampler.top_k}" if sampler.top_k else "top-k off"
        line = Text(f"Step-through sampling · {self.describe} · seed {self.seed}\n")
        line.append(f"temperature {sampler.temperature:.2f}", "bold")
        line.append(f" · {top_k} · {len(sampler.steps)} generated · surprise 0 ")
        if self.app.no_color:
            line.append(RAMP)
        else:
            for colour in palette_from_theme(self.app.theme_variables, "surprise"):
                line.append("█", Style(color=colour.rich_color))
        line.append(" 8+ nats")
        self.query_one("#step-header", Static).update(line)

    @staticmethod
    def describe_step(step: StepRecord) -> str:
        """'drew 'e' · p 37.2% at T 1.00 (model 31.0%) · 1.17 nats'."""
        at_t = percent(step.prob_at_temperature).strip()
        model = percent(step.prob).strip()
        return (
            f"{HOW[step.how]} {quoted(step.char)} · p {at_t} at T {step.temperature:.2f} "
            f"(model {model}) · {step.surprise:.2f} nats"
        )

    # -- moves --------------------------------------------------------------------------------

    def _after_step(self) -> None:
        self._redraw(self.describe_step(self.sampler.steps[-1]))

    def action_draw(self) -> None:
        """Draw the next character from the distribution shown."""
        self.sampler.draw()
        self._after_step()

    def action_pick(self, rank: int) -> None:
        """Take the candidate of this rank."""
        self.sampler.choose(rank)
        self._after_step()

    def force(self, char: str) -> None:
        """Take `char` whatever the model thinks (a line saying why not if it cannot)."""
        try:
            self.sampler.force(char)
        except VocabError as exc:
            self.query_one("#step-status", Static).update(str(exc))
            return
        self._after_step()

    def action_undo(self) -> None:
        """Undo the last step."""
        if self.sampler.undo():
            steps = self.sampler.steps
            self._redraw(
                f"undone · the step before: {self.describe_step(steps[-1])}" if steps else "undone"
            )
        else:
            self.query_one("#step-status", Static).update("nothing to undo: only the prime is left")

    def action_temperature(self, direction: int) -> None:
        """Temperature up or down a step; the bars change at once (the state does not)."""
        low, high = TEMPERATURE_RANGE
        value = round(self.sampler.temperature + direction * TEMPERATURE_STEP, 2)
        self.sampler.temperature = min(high, max(low, value))
        self._show_candidates()
        self._header()

    def action_literal(self) -> None:
        """The next key is taken as a character to force."""
        self.literal = True
        self.query_one("#step-status", Static).update(
            "force which character? (press it; Enter: a newline, esc: cancel)"
        )

    def on_key(self, event: Key) -> None:
        """Typed characters force themselves; after a backslash any key does."""
        if self.literal:
            event.stop()
            event.prevent_default()
            self.literal = False
            char = LITERAL_KEYS.get(event.key, event.character)
            if event.key == "escape" or not char:
                self.query_one("#step-status", Static).update("not forced")
                return
            self.force(char)
            return
        if event.key in self._bound:
            return  # the bindings handle it
        char = event.character
        if char and len(char) == 1 and char.isprintable():
            event.stop()
            event.prevent_default()
            self.force(char)

    def action_help(self) -> None:
        """The keys and what the colours mean."""
        self.app.push_screen(KeysDialog("Step-through sampler", key_rows(self), ABOUT))

    def action_close(self) -> None:
        """Close the sampler."""
        self.dismiss(None)
