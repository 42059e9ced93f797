"""CheckpointStore: a run's checkpoints on disk — the latest, a few before it, and the best.

Saving writes `latest.npz` atomically; the file it replaces stays reachable as
`latest-step<N>.npz` (a hard link, so no copy), and only the newest `keep` checkpoints are kept.
`latest-best.npz` is the checkpoint with the lowest validation loss so far. Every file is complete
or absent; a failed write leaves all of them as they were.

The store links, prunes and replaces only rnn-tui checkpoints of its own run: with a `run_id`
(the string the Trainer stores as `meta["run_id"]`), a `-step<N>` or `-best` file of another run,
or a file that is not a checkpoint at all, is never deleted or replaced, and another run's
`latest.npz` is replaced only once it is kept under its `-step<N>` name.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path
from typing import Any

from .checkpoint import (
    TEMPORARY_ATTEMPTS,
    CheckpointData,
    CheckpointError,
    check_counters,
    read_meta,
    remove_stale_temporaries,
    save_checkpoint,
)


class CheckpointStore:
    """Checkpoints of one run, named after its latest checkpoint path.

    `run_id` names the run (None: files of any run count as ours, as before run identities);
    it may be set later, e.g. once a resumed Trainer has taken the id its checkpoint recorded.
    """

    def __init__(self, latest: str | os.PathLike, keep: int = 3, run_id: str | None = None):
        self.latest = Path(latest)
        self.keep = max(1, keep)
        self.run_id = run_id
        self.best = self.latest.with_name(f"{self.latest.stem}-best.npz")
        self._pattern = re.compile(re.escape(self.latest.stem) + r"-step(\d+)\.npz$")
        self.best_val: float | None = None
        # One line per file the store left alone because it is another run's (for the CLI/log).
        self.notices: list[str] = []

    def older(self) -> list[Path]:
        """This run's kept older checkpoints, newest first (another run's files are not listed)."""
        if not self.latest.parent.is_dir():
            return []
        found = []
        for path in self.latest.parent.iterdir():
            match = self._pattern.match(path.name)
            if match and self._is_ours(path):
                found.append((int(match.group(1)), path))
        return [p for _, p in sorted(found, reverse=True)]

    def save(self, data: CheckpointData) -> Path:
        """Write `data` as the latest checkpoint, keep the previous one, prune, update the best."""
        if self.run_id is not None and data.meta.get("run_id") != self.run_id:
            data = CheckpointData(meta=dict(data.meta, run_id=self.run_id), arrays=data.arrays)
        step = int(data.meta.get("step", 0))
        linked = self._keep_previous(step)
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
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            if not self._may_replace(self.best):
                self._notice(
                    self.best,
                    "it belongs to another run (or is not a checkpoint), so this run's best "
                    "checkpoint is not recorded there",
                )
            elif (self._best_loss() is None or val < self._best_loss()) and self._link_as_best():
                self.best_val = float(val)
        remove_stale_temporaries(self.best)  # left by a process killed while linking
        return self.latest

    def _keep_previous(self, step: int) -> Path | None:
        """Hard-link the latest file we are about to replace as `-step<N>`; the new link or None.

        Our own previous checkpoint is kept when its step differs from the new one (the same step
        is the same state); one of ours whose counters were damaged is simply replaced. Another
        run's latest is always kept, and if it cannot be (its name is taken by a different file,
        or its step is unusable as a name) the save is refused: replacing it would lose that
        run's newest checkpoint.
        """
        previous = _meta_of(self.latest, validate_counters=False)
        if previous is None:
            return None
        foreign = not self._owns(previous)
        try:
            check_counters(previous, self.latest)
            previous_step = int(previous["step"])
        except (CheckpointError, KeyError, TypeError, ValueError):
            if foreign:
                raise CheckpointError(
                    f"{self.latest} holds another run's checkpoint, damaged (it has no usable "
                    "step), which rnn-tui will not replace; move it away or choose another "
                    "--run-dir"
                ) from None
            return None
        if previous_step == step and not foreign:
            return None
        kept = self.latest.with_name(f"{self.latest.stem}-step{previous_step}.npz")
        if not os.path.lexists(kept):
            with contextlib.suppress(OSError):
                os.link(self.latest, kept)
                return kept
        if foreign and not _same_file(kept, self.latest):
            raise CheckpointError(
                f"{self.latest} holds another run's checkpoint (step {previous_step:,}) that "
                f"cannot be kept as {kept.name}; resume that run (--resume {self.latest}) or "
                "choose another --run-dir"
            )
        return None

    def _owns(self, meta: dict[str, Any]) -> bool:
        return self.run_id is None or meta.get("run_id") == self.run_id

    def _is_ours(self, path: Path) -> bool:
        """A regular file (not a link planted there) holding a checkpoint of this run (whose
        counters may since have been damaged: it is still ours to prune or replace)."""
        meta = _meta_of(path, regular_only=True, validate_counters=False)
        return meta is not None and self._owns(meta)

    def _may_replace(self, path: Path) -> bool:
        """Whether the store may put a new file at `path`: nothing there, or one of ours."""
        return not os.path.lexists(path) or self._is_ours(path)

    def _best_loss(self) -> float | None:
        if self.best_val is None and self._is_ours(self.best):
            with contextlib.suppress(Exception):
                value = read_meta(self.best).get("val_loss")
                self.best_val = float(value) if value is not None else None
        return self.best_val

    def _link_as_best(self) -> bool:
        """Point best at the latest file, atomically (link to a fresh temporary name, then
        replace); a name that is taken, e.g. by a planted link, is left alone."""
        for attempt in range(TEMPORARY_ATTEMPTS):
            suffix = f".{attempt}" if attempt else ""
            tmp = self.best.with_name(f".{self.best.name}.{os.getpid()}{suffix}.tmp")
            try:
                os.link(self.latest, tmp)  # fails on any existing name; never follows it
            except FileExistsError:
                continue
            except OSError:
                return False
            try:
                os.replace(tmp, self.best)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                return False
            return True
        return False

    def _notice(self, path: Path, why: str) -> None:
        line = f"kept {path}: {why}"
        if line not in self.notices:
            self.notices.append(line)


def _meta_of(
    path: Path, regular_only: bool = False, validate_counters: bool = True
) -> dict[str, Any] | None:
    """The metadata of the rnn-tui checkpoint at `path`, or None if there is none."""
    try:
        if regular_only and not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return read_meta(path, validate_counters=validate_counters)
    except (OSError, CheckpointError):
        return None
    except Exception:  # a reader must never stop a save
        return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
