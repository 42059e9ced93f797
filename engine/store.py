"""CheckpointStore: a run's checkpoints on disk — the latest, a few before it, and the best.

Saving writes `latest.npz` atomically; the file it replaces stays reachable as
`latest-step<N>.npz` (a hard link, so no copy), and only the newest `keep` checkpoints are kept.
`latest-best.npz` is the checkpoint with the lowest validation loss so far. Every file is complete
or absent; a failed write leaves all of them as they were.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from .checkpoint import (
    CheckpointData,
    CheckpointError,
    read_meta,
    remove_stale_temporaries,
    save_checkpoint,
)


class CheckpointStore:
    """Checkpoints of one run, named after its latest checkpoint path."""

    def __init__(self, latest: str | os.PathLike, keep: int = 3):
        self.latest = Path(latest)
        self.keep = max(1, keep)
        self.best = self.latest.with_name(f"{self.latest.stem}-best.npz")
        self._pattern = re.compile(re.escape(self.latest.stem) + r"-step(\d+)\.npz$")
        self.best_val: float | None = None

    def older(self) -> list[Path]:
        """The kept older checkpoints, newest first."""
        if not self.latest.parent.is_dir():
            return []
        found = []
        for path in self.latest.parent.iterdir():
            match = self._pattern.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return [p for _, p in sorted(found, reverse=True)]

    def save(self, data: CheckpointData) -> Path:
        """Write `data` as the latest checkpoint, keep the previous one, prune, update the best."""
        step = int(data.meta.get("step", 0))
        previous_step = _step_of(self.latest)
        linked = None
        if previous_step is not None and previous_step != step:
            # keep the file we are about to replace under its step number (a link: no copy)
            kept = self.latest.with_name(f"{self.latest.stem}-step{previous_step}.npz")
            with contextlib.suppress(OSError):
                if not kept.exists():
                    os.link(self.latest, kept)
                    linked = kept
        try:
            save_checkpoint(self.latest, data)
        except CheckpointError:
            if linked is not None:  # a failed save leaves the folder exactly as it was
                with contextlib.suppress(OSError):
                    linked.unlink()
            raise
        for stale in self.older()[self.keep - 1 :]:
            with contextlib.suppress(OSError):
                stale.unlink()
        val = data.meta.get("val_loss")
        if isinstance(val, (int, float)) and (self._best_loss() is None or val < self._best_loss()):
            self._link_as_best()
            self.best_val = float(val)
        remove_stale_temporaries(self.best)  # left by a process killed while linking
        return self.latest

    def _best_loss(self) -> float | None:
        if self.best_val is None and self.best.exists():
            with contextlib.suppress(Exception):
                value = read_meta(self.best).get("val_loss")
                self.best_val = float(value) if value is not None else None
        return self.best_val

    def _link_as_best(self) -> None:
        """Point best at the latest file, atomically (link to a temporary name, then replace)."""
        tmp = self.best.with_name(f".{self.best.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
            os.link(self.latest, tmp)
            os.replace(tmp, self.best)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _step_of(path: Path) -> int | None:
    """The step recorded in a checkpoint, or None if there is no readable one."""
    if not path.exists():
        return None
    try:
        step = read_meta(path).get("step")
    except Exception:
        return None
    return step if isinstance(step, int) else None
