"""The dashboard screen: owns the training worker, fans the trainer's snapshots out to panels."""

from __future__ import annotations

import contextlib
import json
import math
import shlex
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
    Snapshot,
    Trainer,
)

from .dialogs import HelpDialog, SampleDialog
from .messages import (
    CheckpointReported,
    HyperparametersApplied,
    SampleArrived,
    SnapshotPosted,
    TrainingDiverged,
    TrainingRolledBack,
    message_for,
)
from .widgets import HiddenPanel, HyperparameterPanel, LossPanel, SamplePanel, StatusPanel
from .widgets.hyperparams import format_value
from .widgets.keybar import KeyBar

NUMBERS_INTERVAL = 0.5  # seconds between repaints of the numbers (state changes: at once)
PLOT_INTERVAL = 1.0  # seconds between chart rebuilds (only when the drawing changed)
HEATMAP_INTERVAL = 4.0  # seconds between heatmap redraws while training (~13 KB each)
SAMPLE_INTERVAL = 3.0  # seconds between new samples shown while training
HISTORY_INTERVAL = 20.0  # seconds between additions to the sample history (a layout pass each)
PANELS_DELAY = 0.05  # seconds after a state change is painted before the slow panels follow
METRICS_INTERVAL = 1.0  # seconds between lines of the metrics log


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: unknown or non-finite numbers are logged as null."""
    return value if value is not None and math.isfinite(value) else None


def resume_hint(path: Path | str) -> str:
    """The command that continues a run from `path`."""
    return f"rnn-tui --resume {shlex.quote(str(path))}"


class DashboardScreen(Screen[str]):
    """Status, loss, sample, hidden state and hyperparameters of one training run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause", tooltip="Pause training after this step", id="pause"),
        Binding("space", "resume", "Resume", tooltip="Continue training", id="resume"),
        Binding("s", "save", "Save", tooltip="Save a checkpoint now", id="save"),
        Binding("g", "sample", "Sample", tooltip="Generate text (while paused)", id="sample"),
        Binding(
            "r",
            "rollback",
            "Roll back",
            tooltip="Restore the last good checkpoint with a 10x lower learning rate",
            id="rollback",
        ),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "app.quit", "Quit", tooltip="Save a checkpoint and quit", id="quit"),
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
    """The run's state as the trainer last reported it (or 'crashed')."""

    def __init__(
        self,
        trainer: Trainer,
        *,
        checkpoint_path: Path,
        corpus_lines: Sequence[str] = (),
        start_paused: bool = False,
        metrics_log: Path | None = None,
    ) -> None:
        super().__init__()
        self.trainer = trainer
        self.checkpoint_path = Path(checkpoint_path)
        if trainer.checkpoint_path != self.checkpoint_path:
            trainer.checkpoint_path = self.checkpoint_path  # saves go through the run's store
        self.corpus_lines = tuple(corpus_lines)
        self.start_paused = start_paused
        self.metrics_log = Path(metrics_log) if metrics_log else None
        self.snapshot: Snapshot | None = None
        self.failure = ""
        self.finishing = False
        self.worker: Worker[str] | None = None
        self._pending: Snapshot | None = None
        self._last = {
            "numbers": 0.0,
            "plot": 0.0,
            "heatmap": 0.0,
            "sample": 0.0,
            "history": 0.0,
            "metrics": 0.0,
        }
        self._description = trainer.describe()
        self._history = list(trainer.samples)  # read before the worker starts
        self._hparams = {
            k: getattr(trainer.config, k)
            for k in ("learning_rate", "temperature", "sample_length", "sample_every", "clip")
        }

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield StatusPanel(self._description, self.corpus_lines, id="status")
                yield HyperparameterPanel(self._hparams, id="hyperparams")
                yield HiddenPanel(id="hidden")
            with Vertical(id="right"):
                yield LossPanel(self._description["vocab_size"], id="loss")
                yield SamplePanel(self._history, id="sample")
        yield Static(
            "rnn-tui needs a terminal of at least 80×24.\n"
            "Enlarge the window, or press q to save and quit.",
            id="too-small",
        )
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        # Numbers are repainted at most every NUMBERS_INTERVAL, so more snapshots than that only
        # wake the UI thread, which costs the training thread the GIL (state changes still
        # publish at once).
        self.trainer.snapshot_interval = max(self.trainer.snapshot_interval, NUMBERS_INTERVAL)
        if self.start_paused:
            self.trainer.pause()
        self.paused = self.trainer.paused
        self.set_interval(NUMBERS_INTERVAL, self._flush)
        self.worker = self.train()

    # -- the worker ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def train(self) -> str:
        """Run the trainer until it is stopped; everything it reports arrives as messages."""
        worker = get_current_worker()
        return self.trainer.run(self._publish, lambda: worker.is_cancelled, on_divergence="pause")

    def _publish(self, event: object) -> None:
        """Called in the training thread: post, never touch widgets."""
        message = message_for(event)
        if message is not None:
            self.post_message(message)

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

    # -- snapshots -----------------------------------------------------------------------------

    def on_snapshot_posted(self, message: SnapshotPosted) -> None:
        snapshot = message.snapshot
        changed_state = self.snapshot is None or snapshot.state != self.snapshot.state
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
            self.run_state = snapshot.state
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
                snapshot.hparams, snapshot.scheduled_learning_rate
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
        still = force or snapshot.state != "running"
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
            if snapshot.sample_step >= 0 and (
                still or now - self._last["sample"] >= SAMPLE_INTERVAL
            ):
                panel = self.query_one(SamplePanel)
                if snapshot.sample_step != panel.latest_step:
                    self._last["sample"] = now
                    panel.add(snapshot.sample_step, snapshot.sample)
            if still or now - self._last["history"] >= HISTORY_INTERVAL:
                self._last["history"] = now
                self.query_one(SamplePanel).flush_history()
        if self.metrics_log is not None and (
            still or now - self._last["metrics"] >= METRICS_INTERVAL
        ):
            self._last["metrics"] = now
            self._log_metrics(snapshot)

    def _log_metrics(self, snapshot: Snapshot) -> None:
        """Append one JSON line; a failing log is reported once and then left alone."""
        record = {
            "step": snapshot.step,
            "loss": _finite(snapshot.loss),
            "smooth_loss": _finite(snapshot.smooth_loss),
            "val_loss": _finite(snapshot.val_loss),
            "chars_per_sec": round(snapshot.chars_per_sec, 1),
            "elapsed": round(snapshot.elapsed, 3),
        }
        try:
            self.metrics_log.parent.mkdir(parents=True, exist_ok=True)
            with self.metrics_log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        except OSError as exc:
            self.notify(
                f"cannot write the metrics log {self.metrics_log}: {exc.strerror or exc}",
                severity="warning",
            )
            self.metrics_log = None

    # -- discrete events -----------------------------------------------------------------------

    def on_checkpoint_reported(self, message: CheckpointReported) -> None:
        event = message.event
        if isinstance(event, CheckpointSaved):
            self.query_one(StatusPanel).show_checkpoint(event.path, event.step)
            self.notify(f"{event.path} at step {event.step:,}", title="Checkpoint saved")
        else:
            self.notify(
                f"{event.path}: {event.error}",
                title="Checkpoint failed",
                severity="error",
                timeout=15,
            )

    def on_sample_arrived(self, message: SampleArrived) -> None:
        for screen in self.app.screen_stack:
            if isinstance(screen, SampleDialog):
                screen.show_sample(message.event)

    def on_hyperparameters_applied(self, message: HyperparametersApplied) -> None:
        event = message.event
        changes = ", ".join(
            f"{name} = {format_value(value)}" for name, value in event.changes.items()
        )
        self.notify(f"{changes} from step {event.step:,}", title="Hyperparameters changed")

    def on_training_diverged(self, message: TrainingDiverged) -> None:
        self.run_state = "diverged"
        self.failure = message.event.reason
        self.notify(
            message.event.reason,
            title=f"Training diverged at step {message.event.step:,}",
            severity="error",
            timeout=30,
        )

    def on_training_rolled_back(self, message: TrainingRolledBack) -> None:
        event = message.event
        self.failure = ""
        self.paused = True
        self.run_state = "paused"
        if self.snapshot is not None:
            self._apply_numbers(self.snapshot)
        self.notify(
            f"Back at step {event.step:,} with learning rate {format_value(event.learning_rate)}. "
            "Press space to resume.",
            title="Rolled back",
        )

    def on_hyperparameter_panel_submitted(self, message: HyperparameterPanel.Submitted) -> None:
        panel = self.query_one(HyperparameterPanel)
        try:
            self.trainer.update(**{message.hparam: message.text})
        except ConfigError as exc:
            panel.show_error(message.hparam, str(exc))
            return
        panel.clear_error()
        self.set_focus(None)

    # -- actions -------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """Whether the trainer can still take commands."""
        return self.run_state not in ("diverged", "crashed", "stopped") and not self.finishing

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self.training and not self.paused
        if action == "resume":
            return self.training and self.paused
        if action == "sample":
            return True if self.training and self.paused else None
        if action == "save":
            return True if self.training else None
        if action == "rollback":
            return self.run_state == "diverged" and self.can_roll_back
        return True

    @property
    def can_roll_back(self) -> bool:
        """Whether a good checkpoint exists to return to after a divergence."""
        latest = self.trainer.checkpoint_path
        return latest is not None and latest.exists() and not self.finishing

    def action_pause(self) -> None:
        """Pause training after the current step."""
        self.trainer.pause()
        self.paused = True
        if self.snapshot is not None:
            self._apply_numbers(self.snapshot)

    def action_resume(self) -> None:
        """Resume training."""
        self.trainer.resume()
        self.paused = False
        if self.snapshot is not None:
            self._apply_numbers(self.snapshot)

    def action_rollback(self) -> None:
        """After a divergence: restore the last good checkpoint with a 10x lower learning rate."""
        lower = self.trainer.config.learning_rate / 10
        try:
            self.trainer.request_rollback(learning_rate=lower)
        except (CheckpointError, ConfigError) as exc:
            self.notify(str(exc), title="Cannot roll back", severity="error")

    def action_save(self) -> None:
        """Save a checkpoint between steps (the run keeps the last few and the best)."""
        try:
            self.trainer.request_checkpoint()
        except CheckpointError as exc:
            self.notify(str(exc), title="Cannot save", severity="error")

    def action_sample(self) -> None:
        """Open the sample dialog (training is paused)."""
        temperature = float(self.snapshot.hparams["temperature"]) if self.snapshot else 1.0
        self.app.push_screen(
            SampleDialog(self.trainer, seed=self._default_seed(), temperature=temperature)
        )

    def _default_seed(self) -> str:
        for seed in ("The ", "the ", "A ", "a "):
            if all(ch in self.trainer.vocab.chars for ch in seed):
                return seed
        return self.trainer.vocab.chars[-1]

    def action_help(self) -> None:
        """Show keys, panels and the corpus x-ray."""
        self.app.push_screen(HelpDialog(self.corpus_lines))

    # -- shutting down -------------------------------------------------------------------------

    async def finish(self) -> str:
        """Stop training, wait for the worker, save unless the run failed; say how to resume."""
        self.finishing = True
        self.trainer.stop()
        if self.worker is not None:
            with contextlib.suppress(Exception):  # a failed worker is reported already
                await self.worker.wait()
        return self.save_or_explain()

    def save_or_explain(self) -> str:
        """Save the stopped trainer (unless it failed); the message for the user either way."""
        trainer = self.trainer
        if trainer.status == "diverged" or self.run_state in ("diverged", "crashed"):
            reason = self.failure or trainer.message or "training failed"
            lines = [
                f"Training stopped at step {trainer.step_count:,}: {reason}",
                "No checkpoint was saved of the failed run.",
            ]
            if trainer.last_checkpoint:
                lines.append(
                    f"Last good checkpoint: {trainer.last_checkpoint}. "
                    f"Resume with: {resume_hint(trainer.last_checkpoint)}"
                )
            return "\n".join(lines)
        result = trainer.try_save()
        if isinstance(result, CheckpointFailed):
            return f"Could not save a checkpoint at step {trainer.step_count:,}: {result.error}"
        saved = result.path
        return (
            f"Saved checkpoint {saved} at step {trainer.step_count:,}. "
            f"Resume with: {resume_hint(saved)}"
        )

    def on_unmount(self) -> None:
        self.trainer.stop()
