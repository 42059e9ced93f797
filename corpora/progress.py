"""ProgressBar: a rich progress bar on stderr for reading, decoding or downloading, drawn only
when enabled and only once the work has taken longer than a delay."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

# Work that finishes within this many seconds never shows a bar.
DEFAULT_DELAY = 1.0


class ProgressBar:
    """Counts units of work done; draws a rich bar once `delay` seconds (default DEFAULT_DELAY)
    have passed, if enabled.

    With `in_bytes` the bar shows sizes and speed (downloads); otherwise a percentage.
    """

    def __init__(
        self,
        description: str,
        total: int | None,
        *,
        enabled: bool,
        delay: float | None = None,
        in_bytes: bool = False,
    ):
        self.description = description
        self.total = total
        self.enabled = enabled
        self.delay = DEFAULT_DELAY if delay is None else delay
        self.in_bytes = in_bytes
        self.done = 0
        self._started = time.monotonic()
        self._progress: Any = None  # rich.progress.Progress, imported only when drawn
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def shown(self) -> bool:
        """Whether the bar has been drawn."""
        return self._progress is not None

    def advance(self, units: int) -> None:
        """Record `units` more work done; draw or update the bar when due."""
        self.done += units
        if not self.enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._started < self.delay:
                return
            self._show()
        self._progress.update(self._task, completed=self.done)

    def close(self) -> None:
        """Finish the bar if it was drawn."""
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done)
            self._progress.stop()
            self._progress = None

    def _show(self) -> None:
        # rich is imported here so that loading without a bar never pays for it.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        if self.in_bytes:
            columns = (DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
        else:
            columns = (TaskProgressColumn(), TimeElapsedColumn())
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *columns,
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(self.description, total=self.total)
        self._progress.start()
