"""Messages the training worker posts to the dashboard: one coalescing snapshot, discrete events."""

from __future__ import annotations

from textual.message import Message

from rnn_tui.engine import (
    CheckpointFailed,
    CheckpointSaved,
    HyperparametersChanged,
    RolledBack,
    SampleReady,
    Snapshot,
    TrainingFailed,
)


class SnapshotPosted(Message):
    """The trainer published a new snapshot; a newer one replaces any still queued."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        """Only the newest snapshot matters: drop older ones still waiting in the queue."""
        return isinstance(message, SnapshotPosted)


class CheckpointReported(Message):
    """A checkpoint was written, or writing one failed."""

    def __init__(self, event: CheckpointSaved | CheckpointFailed) -> None:
        super().__init__()
        self.event = event


class SampleArrived(Message):
    """Generated text is ready (periodic, or asked for from the sample dialog)."""

    def __init__(self, event: SampleReady) -> None:
        super().__init__()
        self.event = event


class HyperparametersApplied(Message):
    """New hyperparameters took effect between two steps."""

    def __init__(self, event: HyperparametersChanged) -> None:
        super().__init__()
        self.event = event


class TrainingDiverged(Message):
    """Training stopped on something it cannot continue from."""

    def __init__(self, event: TrainingFailed) -> None:
        super().__init__()
        self.event = event


class TrainingRolledBack(Message):
    """After a divergence, the last good checkpoint was restored (training is paused)."""

    def __init__(self, event: RolledBack) -> None:
        super().__init__()
        self.event = event


def message_for(event: object) -> Message | None:
    """The UI message that carries an engine event (None for events the UI does not show)."""
    if isinstance(event, Snapshot):
        return SnapshotPosted(event)
    if isinstance(event, (CheckpointSaved, CheckpointFailed)):
        return CheckpointReported(event)
    if isinstance(event, SampleReady):
        return SampleArrived(event) if event.requested else None
    if isinstance(event, HyperparametersChanged):
        return HyperparametersApplied(event)
    if isinstance(event, TrainingFailed):
        return TrainingDiverged(event)
    if isinstance(event, RolledBack):
        return TrainingRolledBack(event)
    return None
