"""The dashboard's learning-rate finder: a range test on a copy of the paused model, the loss
against the rate, and an offer to apply the suggested rate.

The dialog asks the run for a copy of its weights with the start of its training text
(`request_weights(train_chars=...)`, answered by a WeightsCopied between steps), then runs
engine.lr_find.range_test on that copy in a worker thread: the UI never waits for it and it never
touches the training thread's arrays. Closing the dialog cancels the sweep.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from rnn_tui.engine import Config, ConfigError, Vocab
from rnn_tui.engine.control import RunControl
from rnn_tui.engine.events import WeightsCopied
from rnn_tui.engine.lr_find import RangeTest, range_test

from .lr_plot import range_test_chart
from .screens.subject import WeightsReceiver

SWEEP_STEPS = 300
CHART_SIZE = (74, 15)  # columns, rows of the chart inside the dialog


class LearningRateDialog(ModalScreen[float | None], WeightsReceiver):
    """Runs the range test on a copy of the paused model; Apply sets the suggested rate."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-lr-find"),
        Binding("a", "apply", "Apply", id="apply-lr-find"),
    ]
    DEFAULT_CSS = """
    LearningRateDialog { align: center middle; }
    #lr-dialog {
        width: 80; max-width: 100%; height: 24; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    #lr-chart { height: 1fr; }
    #lr-status { height: auto; }
    #lr-buttons { height: auto; align-horizontal: right; }
    #lr-buttons Button { margin-left: 1; }
    """

    def __init__(self, control: RunControl, *, step: int = 0, sweep_steps: int = SWEEP_STEPS):
        super().__init__()
        self.control = control
        self.step = step
        self.sweep_steps = sweep_steps
        self.weights_tag: str | None = None
        self.result: RangeTest | None = None
        self.current_rate: float | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="lr-dialog") as dialog:
            dialog.border_title = f"Learning-rate finder at step {self.step:,}"
            yield Static("", id="lr-chart")
            yield Static("Copying the weights…", id="lr-status", markup=False)
            with Horizontal(id="lr-buttons"):
                yield Button("Apply", id="lr-apply", variant="primary", disabled=True)
                yield Button("Close", id="lr-close")

    def on_mount(self) -> None:
        # enough text that no stream wraps during the sweep (capped by the run at its text)
        info = self.control.info()
        chars = (self.sweep_steps + 2) * info.batch_size * info.seq_length
        self.weights_tag = self.control.request_weights(train_chars=chars)

    def weights_copied(self, event: WeightsCopied) -> None:
        """The copy this dialog asked for: sweep on it in a worker thread."""
        if event.tag != self.weights_tag:
            return
        self.weights_tag = None
        self.sweep(event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="lr-find")
    def sweep(self, event: WeightsCopied) -> None:
        """The range test, off the UI thread, on the copy (cancelled when the dialog closes)."""
        worker = get_current_worker()
        try:
            config = Config.from_dict(dict(event.config))
            vocab = Vocab(event.vocab)
            ids = vocab.encode(event.train_text)
            result = range_test(
                config,
                dict(event.params),
                ids,
                len(vocab),
                steps=self.sweep_steps,
                seed=config.seed,
                should_abort=lambda: worker.is_cancelled,
                on_step=lambda i, rate, loss: self._progress(worker, i, rate, loss),
            )
        except (ConfigError, ValueError) as exc:  # a text too short for the batch, say
            self.app.call_from_thread(self._show_error, str(exc))
            return
        if result is not None and not worker.is_cancelled:
            self.app.call_from_thread(self._show_result, result, config.learning_rate)

    def _progress(self, worker, i: int, rate: float, loss: float) -> None:
        if i % 10 == 0 and not worker.is_cancelled:
            text = f"Sweeping on a copy: step {i + 1}/{self.sweep_steps}, rate {rate:.2g}, loss {loss:.3f}"
            self.app.call_from_thread(self._status, text)

    def _status(self, text: str) -> None:
        if self.is_mounted:
            self.query_one("#lr-status", Static).update(text)

    def _show_error(self, message: str) -> None:
        self._status(f"Cannot run the finder: {message}")

    def _show_result(self, result: RangeTest, rate_now: float) -> None:
        if not self.is_mounted:
            return
        self.result = result
        self.current_rate = rate_now
        self.query_one("#lr-chart", Static).update(
            Text.from_ansi(range_test_chart(result, *CHART_SIZE))
        )
        self._status(
            f"Suggested rate {result.suggestion:g}: {result.reason}. The run's rate is "
            f"{rate_now:g}. Apply (a) to use the suggestion from the next step."
        )
        self.query_one("#lr-apply", Button).disabled = False

    @on(Button.Pressed, "#lr-apply")
    def action_apply(self) -> None:
        """Set the run's learning rate (the schedule's base) to the suggestion."""
        if self.result is None:
            return
        try:
            self.control.update(learning_rate=self.result.suggestion)
        except ConfigError as exc:
            self._status(str(exc))
            return
        self.dismiss(self.result.suggestion)

    @on(Button.Pressed, "#lr-close")
    def close(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
