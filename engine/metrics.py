"""Training metrics: unit conversions, the classic smoothed loss, and bounded curve histories."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

LN2 = math.log(2.0)


def nats_to_bits(nats: float) -> float:
    """Loss per character in bits."""
    return nats / LN2


def perplexity(nats: float) -> float:
    """exp(loss per character)."""
    return math.exp(min(nats, 700.0))


def uniform_loss(vocab_size: int) -> float:
    """Loss per character of a model that knows nothing: ln(V)."""
    return math.log(vocab_size)


class SmoothedLoss:
    """min-char-rnn's `smooth_loss = 0.999 * smooth_loss + 0.001 * loss`, kept per character.

    The classic value is the 25-char (seq_length) sum; `classic` multiplies back so users can
    compare with the video's printout. It starts at -ln(1/V) * seq_length.
    """

    def __init__(self, vocab_size: int, seq_length: int, value: float | None = None):
        self.seq_length = seq_length
        self.value = uniform_loss(vocab_size) if value is None else value  # per char

    def update(self, loss_per_char: float) -> float:
        """Fold in one window's loss per character; return the new smoothed value."""
        self.value = 0.999 * self.value + 0.001 * loss_per_char
        return self.value

    @property
    def classic(self) -> float:
        """The video's number: smoothed loss summed over a window."""
        return self.value * self.seq_length


class CurveHistory:
    """(step, value) points kept within `capacity` by averaging neighbours when full.

    A long run keeps its whole shape in bounded memory: every time the buffer fills, pairs of
    points merge and later points are averaged over twice as many steps.
    """

    def __init__(self, capacity: int = 2048):
        self.capacity = capacity - capacity % 2
        self.points = np.empty((self.capacity, 2))
        self.size = 0
        self.stride = 1  # raw points per stored point
        self._acc_step = 0.0
        self._acc_value = 0.0
        self._acc_count = 0

    def append(self, step: float, value: float) -> None:
        """Add one raw point."""
        self._acc_step += step
        self._acc_value += value
        self._acc_count += 1
        if self._acc_count < self.stride:
            return
        self.points[self.size] = (
            self._acc_step / self._acc_count,
            self._acc_value / self._acc_count,
        )
        self.size += 1
        self._acc_step = self._acc_value = 0.0
        self._acc_count = 0
        if self.size == self.capacity:
            # merge neighbours right away, so every stored point averages `stride` raw points
            half = self.capacity // 2
            self.points[:half] = self.points[: self.capacity].reshape(half, 2, 2).mean(axis=1)
            self.size = half
            self.stride *= 2

    def array(self) -> np.ndarray:
        """The stored points (N, 2), a copy."""
        return self.points[: self.size].copy()

    def state_dict(self) -> tuple[np.ndarray, dict]:
        """Points and counters, for checkpoints."""
        acc = {
            "stride": self.stride,
            "acc_step": self._acc_step,
            "acc_value": self._acc_value,
            "acc_count": self._acc_count,
        }
        return self.array(), acc

    def load_state_dict(self, points: np.ndarray, acc: dict) -> None:
        """Restore from state_dict output."""
        n = min(len(points), self.capacity)
        self.points[:n] = points[:n]
        self.size = n
        self.stride = int(acc["stride"])
        self._acc_step, self._acc_value = float(acc["acc_step"]), float(acc["acc_value"])
        self._acc_count = int(acc["acc_count"])


class Throughput:
    """Characters per second over roughly the last `window` seconds."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.marks: deque[tuple[float, int]] = deque()

    def add(self, now: float, chars_total: int) -> None:
        """Record the running character total at time `now`."""
        self.marks.append((now, chars_total))
        while len(self.marks) > 2 and now - self.marks[1][0] > self.window:
            self.marks.popleft()

    def rate(self) -> float:
        """Chars/s between the oldest and newest marks (0 before two marks)."""
        if len(self.marks) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self.marks[0], self.marks[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def reset(self) -> None:
        """Forget marks (after a pause, so idle time does not count)."""
        self.marks.clear()
