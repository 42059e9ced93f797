"""The one message the run posts to the dashboard: an engine event, carried as it is.

Snapshots coalesce (a newer one replaces any still queued: only the newest matters); every
other event is discrete and never dropped. The screen dispatches on the event's type with
`match`, so a new event needs a case there, not a new message class here.
"""

from __future__ import annotations

from textual.message import Message

from rnn_tui.engine import Event, Snapshot


class EventPosted(Message):
    """The run published `event` (from the training thread, or from a remote run's reader)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        """A snapshot replaces an older snapshot still waiting in the queue; nothing else merges."""
        return (
            isinstance(self.event, Snapshot)
            and isinstance(message, EventPosted)
            and isinstance(message.event, Snapshot)
        )
