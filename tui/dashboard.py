"""The dashboard screen: owns the run's worker, fans its snapshots out to the panels.

The screen speaks to the run only through engine.control.RunControl: events arrive (posted by
the worker, never touching widgets), commands leave (`pause`, `update`, `request_sample`, ...).
It cannot tell a Trainer in this process from a run in another one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from rnn_tui.engine import (
    CheckpointError,
    CheckpointFailed,
    CheckpointSaved,
    ConfigError,
    Event,
    HyperparametersChanged,
    RolledBack,
    RunInfo,
    SampleReady,
    Snapshot,
    TrainingFailed,
)
from rnn_tui.engine.control import RunControl
from rnn_tui.engine.events import BaselinesReady, NoveltyMeasured, WeightsCopied
from rnn_tui.engine.metrics_log import MetricsLog

from .dialogs import HelpDialog, SampleDialog
from .formatting import format_value
from .headless import resume_command
from .lr_dialog import LearningRateDialog
from .messages import EventPosted
from .screens.neuron import NeuronScreen
from .screens.subject import WeightsReceiver
from .widgets import HiddenPanel, HyperparameterPanel, LossPanel, SamplePanel, StatusPanel
from .widgets.gradients import GradientPanel
from .widgets.keybar import KeyBar

NUMBERS_INTERVAL = 0.5  # seconds between repaints of the numbers (state changes: at once)
PLOT_INTERVAL = 1.0  # seconds between chart rebuilds (only when the drawing changed)
HEATMAP_INTERVAL = 4.0  # seconds between heatmap redraws while training (~13 KB each)
SAMPLE_INTERVAL = 3.0  # seconds between new samples shown while training
HISTORY_INTERVAL = 20.0  # seconds between additions to the sample history (a layout pass each)
GRADIENT_INTERVAL = 2.0  # seconds between repaints of the gradient-health panel
GRADIENTS_FROM = (120, 40)  # the gradient panel is on by default in terminals this large
PANELS_DELAY = 0.05  # seconds after a state change is painted before the slow panels follow
METRICS_INTERVAL = 1.0  # seconds between lines of the metrics log


class DashboardScreen(Screen[str]):
    """Status, loss, sample, hidden state and hyperparameters of one training run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause", tooltip="pause training after this step", id="pause"),
        Binding("space", "resume", "Resume", tooltip="continue training", id="resume"),
        Binding("s", "save", "Save", tooltip="save a checkpoint now", id="save"),
        Binding(
            "g", "sample", "Sample", tooltip="generate a sample from the paused model", id="sample"
        ),
        Binding(
            "r",
            "rollback",
            "Roll back",
            tooltip="after a divergence: restore the last good checkpoint with a 10x lower "
            "learning rate",
            id="rollback",
        ),
        Binding(
            "i",
            "inspect",
            "Inspect",
            tooltip="the neuron view: text coloured by any unit, the model's guesses, the cell "
            "finder (on a copy of the weights; training goes on)",
            id="inspect",
        ),
        Binding(
            "l",
            "lr_find",
            "LR finder",
            tooltip="while paused: a learning-rate range test on a copy of the model, and the "
            "suggested rate to apply",
            id="lr-find",
        ),
        Binding(
            "h",
            "toggle_gradients",
            "Gradients",
            tooltip="show or hide the gradient-health panel (norms, update ratios, clipping, "
            "how far back the gradient reaches)",
            show=False,  # the key bar is full at 80 columns; the panel's border names the key
            id="gradients",
        ),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help", id="help"),
        Binding(
            "d",
            "app.detach",
            "Detach",
            tooltip="leave the run training in the background (come back: rnn-tui attach)",
            id="detach",
        ),
        Binding("q", "app.quit", "Quit", tooltip="save a checkpoint and quit", id="quit"),
    ]
    AUTO_FOCUS = "HiddenHeatmap"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-small"),
        (80, "-narrow"),
        (110, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-short"),
        (24, "-short"),
        (34, "-tall"),
    ]

    paused: reactive[bool] = reactive(False, bindings=True)
    """Whether training is paused (the footer shows Resume instead of Pause)."""
    run_state: reactive[str] = reactive("running")
    """The run's state as it was last reported (or 'crashed')."""

    def __init__(
        self,
        control: RunControl,
        *,
        corpus_lines: Sequence[str] = (),
        start_paused: bool = False,
        metrics_log: Path | None = None,
    ) -> None:
        super().__init__()
        self.control = control
        self.info: RunInfo = control.info()
        self.corpus_lines = tuple(corpus_lines)
        self.start_paused = start_paused
        self.metrics = MetricsLog(metrics_log, self._metrics_failed) if metrics_log else None
        self.snapshot: Snapshot | None = None
        self.failure = ""
        self.finishing = False
        self.worker: Worker[str] | None = None
        self.ended = threading.Event()  # set when the run's worker returns (its last save done)
        self.final_save: CheckpointSaved | CheckpointFailed | None = None
        self._pending: Snapshot | None = None
        self._last = dict.fromkeys(("numbers", "plot", "heatmap", "sample", "history"), 0.0)
        self._last["gradients"] = 0.0
        self.measured: NoveltyMeasured | None = None  # the newest sample with its novelty
        self._last["metrics"] = 0.0

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield StatusPanel(self.info, self.corpus_lines, id="status")
                yield HyperparameterPanel({}, id="hyperparams")
                yield HiddenPanel(id="hidden")
            with Vertical(id="right"):
                yield LossPanel(self.info.vocab_size, id="loss")
                yield GradientPanel(cell=self.info.cell, id="gradients")
                yield SamplePanel(self.info.samples, id="sample")
        yield Static(
            "rnn-tui needs a terminal of at least 80×24.\n"
            "Enlarge the window, or press q to save and quit.",
            id="too-small",
        )
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        if self.start_paused:
            self.control.pause()
        self.paused = self.start_paused
        self.set_interval(NUMBERS_INTERVAL, self._flush)
        self.worker = self.train()
        wide, tall = GRADIENTS_FROM
        self.show_gradients(self.app.size.width >= wide and self.app.size.height >= tall)

    # -- the worker ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def train(self) -> str:
        """Run until stopped; everything the run reports arrives as messages."""
        worker = get_current_worker()
        try:
            return self.control.run(self._publish, lambda: worker.is_cancelled)
        finally:
            self.ended.set()

    def _publish(self, event: Event) -> None:
        """Called in the worker's thread: post, never touch widgets."""
        if isinstance(event, (CheckpointSaved, CheckpointFailed)):
            self.final_save = event  # the last one is the save at the end of the run
        self.post_message(EventPosted(event))

    def watch_run_state(self, old: str, new: str) -> None:
        if "running" not in (old, new) or "paused" not in (old, new):
            self.refresh_bindings()  # Save and Sample depend on the run still being alive

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker or event.state != WorkerState.ERROR:
            return
        self.failure = f"training stopped with an error: {event.worker.error!r}"
        self.run_state = "crashed"
        self.notify(self.failure, title="Training crashed", severity="error", timeout=30)
        if self.snapshot is not None:
            self._apply_numbers(self.snapshot)

    def on_event_posted(self, message: EventPosted) -> None:
        if self.metrics is not None:
            self.metrics.observe(message.event)  # the baselines and novelty join its records
        match message.event:
            case BaselinesReady() as ready:
                self.query_one(LossPanel).show_yardsticks(ready.baselines.yardsticks())
                self.query_one(StatusPanel).show_baselines(ready.baselines)
            case NoveltyMeasured() as measured:
                self.measured = measured
                self.query_one(SamplePanel).show_novelty(measured)
            case Snapshot() as snapshot:
                self._snapshot_arrived(snapshot)
            case CheckpointSaved() as saved:
                self.query_one(StatusPanel).show_checkpoint(saved.path, saved.step)
                self.notify(f"{saved.path} at step {saved.step:,}", title="Checkpoint saved")
                for notice in saved.notices:
                    self.notify(notice, title="Left alone", severity="warning", timeout=15)
            case CheckpointFailed() as failed:
                self.notify(
                    f"{failed.path}: {failed.error}",
                    title="Checkpoint failed",
                    severity="error",
                    timeout=15,
                )
            case SampleReady(requested=True) as sample:
                for screen in self.app.screen_stack:
                    if isinstance(screen, SampleDialog):
                        screen.show_sample(sample)
            case HyperparametersChanged() as changed:
                changes = ", ".join(
                    f"{name} = {format_value(value)}" for name, value in changed.changes.items()
                )
                self.notify(
                    f"{changes} from step {changed.step:,}", title="Hyperparameters changed"
                )
            case TrainingFailed() as failed:
                self.run_state = "diverged"
                self.failure = failed.reason
                self.notify(
                    failed.reason,
                    title=f"Training diverged at step {failed.step:,}",
                    severity="error",
                    timeout=30,
                )
            case WeightsCopied() as copied:  # for the neuron view or the step-through sampler
                for screen in self.app.screen_stack:
                    if isinstance(screen, WeightsReceiver):
                        screen.weights_copied(copied)
            case RolledBack() as rolled:
                self.failure = ""
                self.paused = True
                self.run_state = "paused"
                if self.snapshot is not None:
                    self._apply_numbers(self.snapshot)
                self.notify(
                    f"Back at step {rolled.step:,} with learning rate "
                    f"{format_value(rolled.learning_rate)}. Press space to resume.",
                    title="Rolled back",
                )

    # -- snapshots -----------------------------------------------------------------------------

    def _snapshot_arrived(self, snapshot: Snapshot) -> None:
        changed_state = self.snapshot is None or snapshot.run_state != self.snapshot.run_state
        if changed_state and snapshot.run_state in ("running", "paused"):
            self.paused = snapshot.run_state == "paused"  # whoever asked (another viewer too)
        self._pending = snapshot
        if changed_state:
            # the state first, on its own, so a pause shows at once; the slow panels a moment later
            self._flush(force=True)

    def _flush(self, force: bool = False) -> None:
        """Apply the newest snapshot, if one is waiting (the numbers at most twice a second)."""
        if self._pending is None or self.finishing:
            return
        snapshot, self._pending = self._pending, None
        self._apply_numbers(snapshot)
        if force:
            self.set_timer(PANELS_DELAY, self._apply_newest_panels)
        else:
            self._apply_panels(snapshot, False)

    def _apply_numbers(self, snapshot: Snapshot) -> None:
        """State, counters and losses: small widgets, cheap to repaint."""
        self.snapshot = snapshot
        if self.run_state != "crashed":
            self.run_state = snapshot.run_state
        shown = self.run_state
        if shown == "running" and self.paused:
            shown = "pausing"  # asked for, not yet confirmed by the training thread
        elif shown == "paused" and not self.paused:
            shown = "resuming"
        with self.app.batch_update():
            status = self.query_one(StatusPanel)
            status.set_class(self.run_state == "paused", "-paused")
            failed = self.run_state in ("diverged", "crashed")
            for panel in (status, self.query_one(HyperparameterPanel)):
                panel.set_class(failed, "-diverged")
            status.show(snapshot, state=shown, message=self.failure)
            self.query_one(HyperparameterPanel).show(
                snapshot.hparams, snapshot.scheduled_learning_rate, snapshot.schedule
            )

    def _apply_newest_panels(self) -> None:
        """The slow panels for the newest snapshot, after the state change has been painted."""
        if self.snapshot is not None:
            self._apply_panels(self.snapshot, True)

    def _apply_panels(self, snapshot: Snapshot, force: bool = False) -> None:
        """Chart, heatmap and sample: repainted rarely while training, at once when it stops."""
        if self.finishing or not self.is_mounted:
            return
        now = time.monotonic()
        still = force or snapshot.run_state != "running"
        with self.app.batch_update():
            if still or now - self._last["plot"] >= PLOT_INTERVAL:
                self._last["plot"] = now
                self.query_one(LossPanel).show(
                    snapshot.train_curve,
                    snapshot.val_curve,
                    snapshot.hparam_change_steps,
                    snapshot.step,
                    snapshot.recent_losses,
                )
            if still or now - self._last["heatmap"] >= HEATMAP_INTERVAL:
                self._last["heatmap"] = now
                self.query_one(HiddenPanel).show(snapshot.hidden, snapshot.hidden_chars)
            # once samples are being measured, the newest measured one (with its novelty line)
            panel = self.query_one(SamplePanel)
            sample_step, sample = snapshot.sample_step, snapshot.sample
            if self.measured is not None and self.measured.step >= panel.latest_step:
                sample_step, sample = self.measured.step, self.measured.text
            due = still or now - self._last["sample"] >= SAMPLE_INTERVAL
            if sample_step >= 0 and due and sample_step != panel.latest_step:
                self._last["sample"] = now
                panel.add(sample_step, sample)
            if still or now - self._last["gradients"] >= GRADIENT_INTERVAL:
                self._last["gradients"] = now
                self.query_one(GradientPanel).show(snapshot.gradient_health)
            if still or now - self._last["history"] >= HISTORY_INTERVAL:
                self._last["history"] = now
                self.query_one(SamplePanel).flush_history()
        if self.metrics is not None and (still or now - self._last["metrics"] >= METRICS_INTERVAL):
            self._last["metrics"] = now
            self.metrics.log(snapshot)

    def _metrics_failed(self, exc: OSError) -> None:
        """A failing log is reported once and then left alone."""
        path = self.metrics.path if self.metrics else "the metrics log"
        self.notify(
            f"cannot write the metrics log {path}: {exc.strerror or exc}", severity="warning"
        )

    def on_hyperparameter_panel_submitted(self, message: HyperparameterPanel.Submitted) -> None:
        panel = self.query_one(HyperparameterPanel)
        try:
            self.control.update(**{message.hparam: message.text})
        except ConfigError as exc:
            panel.show_error(message.hparam, str(exc))
            return
        panel.clear_error()
        self.set_focus(None)

    # -- actions -------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """Whether the run can still take commands."""
        return self.run_state not in ("diverged", "crashed", "stopped") and not self.finishing

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self.training and not self.paused
        if action == "resume":
            return self.training and self.paused
        if action in ("sample", "lr_find"):
            return True if self.training and self.paused else None
        if action == "save":
            return True if self.training else None
        if action == "rollback":
            return self.run_state == "diverged" and self.can_roll_back
        if action == "inspect":  # the run must be alive to copy its weights
            alive = self.run_state not in ("crashed", "stopped") and not self.finishing
            return True if alive else None
        return True

    @property
    def can_roll_back(self) -> bool:
        """Whether a good checkpoint exists to return to after a divergence."""
        latest = self.info.checkpoint
        return latest is not None and Path(latest).exists() and not self.finishing

    def action_pause(self) -> None:
        """Pause training after the current step."""
        self.control.pause()
        self.paused = True
        if self.snapshot is not None:
            self._apply_numbers(self.snapshot)

    def action_resume(self) -> None:
        """Resume training."""
        self.control.resume()
        self.paused = False
        if self.snapshot is not None:
            self._apply_numbers(self.snapshot)

    def action_rollback(self) -> None:
        """After a divergence: restore the last good checkpoint with a 10x lower learning rate."""
        rate = float(self.snapshot.hparams["learning_rate"]) if self.snapshot else None
        try:
            self.control.request_rollback(learning_rate=None if rate is None else rate / 10)
        except (CheckpointError, ConfigError) as exc:
            self.notify(str(exc), title="Cannot roll back", severity="error")

    def action_save(self) -> None:
        """Save a checkpoint between steps (the run keeps the last few and the best)."""
        try:
            self.control.request_checkpoint()
        except CheckpointError as exc:
            self.notify(str(exc), title="Cannot save", severity="error")

    def action_sample(self) -> None:
        """Open the sample dialog (training is paused)."""
        snapshot = self.snapshot
        self.app.push_screen(
            SampleDialog(
                self.control,
                step=snapshot.step if snapshot else 0,
                seed=self._default_seed(),
                temperature=float(snapshot.hparams["temperature"]) if snapshot else 1.0,
            )
        )

    def action_lr_find(self) -> None:
        """Open the learning-rate finder on a copy of the paused model."""
        self.app.push_screen(
            LearningRateDialog(self.control, step=self.snapshot.step if self.snapshot else 0)
        )

    def _default_seed(self) -> str:
        for seed in ("The ", "the ", "A ", "a "):
            if all(ch in self.info.vocab for ch in seed):
                return seed
        return self.info.vocab[-1]

    def action_inspect(self) -> None:
        """Open the neuron view on a copy of the weights (training is not disturbed)."""
        self.app.push_screen(NeuronScreen(control=self.control, latest_sample=self._latest_sample))

    def _latest_sample(self) -> str:
        return self.snapshot.sample if self.snapshot is not None else ""

    def action_toggle_gradients(self) -> None:
        """Show or hide the gradient-health panel."""
        self.show_gradients(not self.query_one(GradientPanel).display)

    def show_gradients(self, on: bool) -> None:
        """The gradient panel on or off (at 80×24 it takes the sample panel's place)."""
        panel = self.query_one(GradientPanel)
        panel.display = on
        self.set_class(on, "-gradients")
        if on and self.snapshot is not None:
            panel.show(self.snapshot.gradient_health)

    def action_help(self) -> None:
        """Show keys, panels and the corpus x-ray."""
        self.app.push_screen(HelpDialog(self.help_keys(), self.corpus_lines))

    def help_keys(self) -> list[tuple[str, str]]:
        """(key, what it does) for every binding of this screen and the app, from BINDINGS."""
        keys: dict[str, list[str]] = {}
        for binding in [*self.BINDINGS, *self.app.BINDINGS]:
            assert isinstance(binding, Binding)
            what = binding.tooltip or binding.description
            shown = binding.key_display or self.app.get_key_display(binding)
            keys.setdefault(what, [])
            if shown not in keys[what]:
                keys[what].append(shown)
        return [(" / ".join(shown), what) for what, shown in keys.items()]

    # -- shutting down -------------------------------------------------------------------------

    async def finish(self) -> str:
        """Stop the run, wait for its worker (which saves a last checkpoint), say how to resume."""
        self.finishing = True
        self.control.stop()
        if self.worker is not None:
            with contextlib.suppress(Exception):  # a failed worker is reported already
                await self.worker.wait()
        return self.exit_message()

    def exit_message(self) -> str:
        """What the terminal shows once the app has gone: where the run is saved, or why not."""
        snapshot = self.snapshot
        step = snapshot.step if snapshot else 0
        if self.run_state in ("diverged", "crashed") or (
            snapshot is not None and snapshot.run_state == "diverged"
        ):
            reason = self.failure or (snapshot.message if snapshot else "") or "training failed"
            lines = [
                f"Training stopped at step {step:,}: {reason}",
                "No checkpoint was saved of the failed run.",
            ]
            last = snapshot.last_checkpoint if snapshot else None
            if last:
                lines.append(
                    f"Last good checkpoint: {last}. Resume with: {resume_command(last, False)}"
                )
            return "\n".join(lines)
        saved = self.final_save
        if isinstance(saved, CheckpointSaved):
            return (
                f"Saved checkpoint {saved.path} at step {saved.step:,}. "
                f"Resume with: {resume_command(saved.path, False)}"
            )
        why = saved.error if isinstance(saved, CheckpointFailed) else "nothing was saved"
        return f"Could not save a checkpoint at step {step:,}: {why}"

    async def leave(self) -> None:
        """Stop watching and let the run go on (an attached dashboard's detach)."""
        self.finishing = True
        if self.worker is not None:
            self.worker.cancel()  # the run's worker returns at its next look at should_stop
            with contextlib.suppress(Exception):
                await self.worker.wait()

    @property
    def saved(self) -> bool:
        """Whether the run ended with its last checkpoint written."""
        return isinstance(self.final_save, CheckpointSaved)

    def on_unmount(self) -> None:
        self.control.leave()  # a run of this process stops; an attached one goes on
