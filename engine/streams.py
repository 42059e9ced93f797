"""Character streams: the train/validation split and B parallel windows over the training ids.

Stream b reads its own contiguous segment of the training text, `seq_length` characters at a time
(targets are the inputs shifted by one). When a window would run past the end of its segment the
stream wraps to the segment start and its hidden state must be reset; `next_window` says which
streams did. With B = 1 this is exactly min-char-rnn's data pointer `p`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class StreamError(ValueError):
    """The text is too short for the requested batch and window."""


def split_ids(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Training ids (first part) and validation ids (the last `val_fraction`), as views."""
    n_val = int(len(ids) * val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


class CharStreams:
    """B cursors over `ids`; each `next_window()` gives inputs and targets (T, B) and wrap flags (B,)."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int):
        self.ids = ids
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.segment = len(ids) // batch_size
        if self.segment < seq_length + 2:
            need = batch_size * (seq_length + 2)
            raise StreamError(
                f"the training text has {len(ids)} characters, too few for batch_size {batch_size} x "
                f"seq_length {seq_length} (need at least {need}); use a longer text or smaller values"
            )
        self.starts = np.arange(batch_size) * self.segment  # (B,)
        self.offset = 0  # position within every segment (all streams move in lockstep)
        self.epoch = 0  # completed passes over the segments
        self.started = False
        self._window = np.arange(seq_length + 1)

    def next_window(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """inputs (T, B), targets (T, B), and whether the streams wrapped (reset their state)."""
        T = self.seq_length
        wrapped = not self.started
        # the classic test: `if p + seq_length + 1 >= len(data): p = 0; hprev = 0`
        if self.offset + T + 1 >= self.segment:
            self.offset = 0
            self.epoch += 1
            wrapped = True
        self.started = True
        idx = self.starts[None, :] + self.offset + self._window[:, None]  # (T+1, B)
        chunk = self.ids[idx].astype(np.intp, copy=False)
        self.offset += T
        return chunk[:-1], chunk[1:], wrapped

    @property
    def completed_epochs(self) -> int:
        """Whole passes over the text done: the next window would start another one."""
        return self.epoch + (self.started and self.offset + self.seq_length + 1 >= self.segment)

    @property
    def progress(self) -> float:
        """Fraction of the current epoch done."""
        return min(1.0, self.offset / self.segment)

    def state_dict(self) -> dict[str, int]:
        """Cursor position, for checkpoints."""
        return {"offset": self.offset, "epoch": self.epoch, "started": int(self.started)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a cursor position saved by state_dict."""
        offset = int(state["offset"])
        if not 0 <= offset <= self.segment:
            raise StreamError(f"stream offset {offset} is outside the text")
        self.offset, self.epoch, self.started = offset, int(state["epoch"]), bool(state["started"])


def validation_loss(
    model,
    params: dict[str, np.ndarray],
    ids: np.ndarray,
    streams: int = 32,
    chunk: int = 50,
    should_abort: Callable[[], bool] | None = None,
) -> float | None:
    """Loss per character (nats) over `ids`, read as `streams` contiguous parts with state carried.

    Each part starts from a zero state and is fed in chunks of `chunk` steps, so every character
    except the first of each part is predicted with its full left context within the part.
    `should_abort` is asked between chunks (a pause must not wait for a whole pass): if it says
    yes the pass is abandoned and None returned.
    """
    n = len(ids) - 1
    if n < 1:
        return float("nan")
    streams = max(1, min(streams, n // 2))
    seg = n // streams
    starts = np.arange(streams) * seg
    state = model.initial_state(streams)
    total, count = 0.0, 0
    for off in range(0, seg, chunk):
        if should_abort is not None and should_abort():
            return None
        T = min(chunk, seg - off)
        idx = starts[None, :] + off + np.arange(T + 1)[:, None]  # (T+1, S)
        window = ids[idx].astype(np.intp, copy=False)
        loss, state = model.loss(params, window[:-1], window[1:], state)
        total += loss
        count += T * streams
    # characters past streams*seg (fewer than `streams`) are left out: a negligible tail
    return total / count
