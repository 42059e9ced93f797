"""Recurrent cells: each owns one job, the recurrence over time given precomputed input projections.

The model does everything that is not recurrent (embedding lookup / input matmul for all steps at
once, the softmax head, weight gradients of the input projection), so a cell's forward loop holds
only what truly depends on the previous step. Hidden arrays are time-major: (T, B, H).

The input projections arrive gate-major, (G, T, B, H), already multiplied by the cell's
`input_scale()` (folded into the weights by the model), and are the cell's to overwrite: one gate
of one step is then a contiguous (B, H) block, which NumPy multiplies about twice as fast as the
column slices of a (B, G*H) row. Their gradients leave time-major, (T, B, G*H): the backward
loop's recurrent matmul needs each step's row that way, and the model's weight-gradient matmuls
then run as single GEMMs. For G = 1 the two layouts are the same.

A cell's state is an array (S, B, H): S = 1 for tanh RNN and GRU (h), S = 2 for LSTM (h, c).
State slot 0 is always the hidden output h.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class Cell:
    """Interface: recurrence over T steps; gradients back through it (truncated at the window start)."""

    kind: ClassVar[str]
    gates: ClassVar[int]  # G: gate blocks in the input projection, (G, T, B, H)
    state_slots: ClassVar[int]  # S
    # Parameter base names: input weight (G*H, I), recurrent weight (G*H, H), bias (G*H,)
    names: ClassVar[tuple[str, str, str]]
    reports_reach: ClassVar[bool] = False  # backward(..., reach=) fills dL/dh_t norms

    def __init__(self, hidden_size: int):
        self.hidden_size = hidden_size

    def init_recurrent(self, rng: np.random.Generator, scale: float, dtype: np.dtype) -> np.ndarray:
        """Recurrent weight (G*H, H) drawn after the input weight (order matters for the classic)."""
        H = self.hidden_size
        return (rng.standard_normal((self.gates * H, H)) * scale).astype(dtype, copy=False)

    def init_bias(self, dtype: np.dtype) -> np.ndarray:
        """Bias (G*H,), zero unless a cell needs otherwise (LSTM forget gate)."""
        return np.zeros(self.gates * self.hidden_size, dtype=dtype)

    def input_scale(self, dtype: np.dtype) -> np.ndarray | None:
        """(G*H,) factor the model applies to the input projections (None: leave them as they are)."""
        return None

    def forward(
        self, xproj: np.ndarray, Wh: np.ndarray, state0: np.ndarray, need_grads: bool = True
    ) -> tuple[np.ndarray, Any, np.ndarray]:
        """xproj (G, T, B, H), scaled, overwritten -> hs (T, B, H), cache, final state (S, B, H).

        need_grads=False (validation, forward-only loss) lets a cell skip what only backward uses.
        """
        raise NotImplementedError

    def backward(
        self, dhs: np.ndarray, cache: Any, Wh: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """dhs (T, B, H) (may be overwritten) -> dxproj (T, B, G*H), dWh (G*H, H).

        A cell with `reports_reach` also takes `reach=` a (T,) array and writes into it the
        norm of the whole gradient reaching each step's hidden output, dL/dh_t.
        """
        raise NotImplementedError

    def step(self, xproj: np.ndarray, Wh: np.ndarray, state: np.ndarray) -> np.ndarray:
        """One step for sampling: xproj (B, G*H), state (S, B, H) -> new state (S, B, H)."""
        raise NotImplementedError

    def trace(
        self, xproj: np.ndarray, Wh: np.ndarray, state0: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """For probing: xproj (G, T, B, H) as `forward` takes it (scaled; left unchanged) ->
        named per-step signals, each (T, B, H) with "h" first, and the final state (S, B, H).

        Forward only and written for clarity rather than speed; the gates are activations
        (sigmoid gates in [0, 1], tanh candidates in [-1, 1]).
        """
        raise NotImplementedError


def sigmoid_half_scale(
    hidden_size: int, gates: int, tanh_block: int, dtype: np.dtype
) -> np.ndarray:
    """(G*H,) column scale: 0.5 on sigmoid gate blocks, 1 on the tanh block.

    Gated cells compute sigmoid(a) = (1 + tanh(a / 2)) / 2, so halving the sigmoid columns of the
    pre-activations lets one tanh pass squash every gate of a step at once.
    """
    scale = np.full(gates * hidden_size, 0.5, dtype=dtype)
    scale[tanh_block * hidden_size : (tanh_block + 1) * hidden_size] = 1.0
    return scale


def scaled_transpose(W: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(W * scale[:, None]).T as a C-contiguous array: OpenBLAS runs h @ W.T 1.3-2x slower on a
    transposed view (`python bench/bench_floor.py`). Copying first and scaling the contiguous copy
    is faster than one multiply that reads W transposed."""
    out = np.ascontiguousarray(W.T)
    out *= scale
    return out


def _step_views(a: np.ndarray) -> list[np.ndarray]:
    """Per-time-step views of a (T, B, H) array, made once per window: (H,) vectors when B == 1."""
    return list(a[:, 0]) if a.shape[1] == 1 else list(a)


def _recurrent_product(W: np.ndarray, batch: int):
    """`f(h, out)`: out = h @ W.T for (B, H) rows, or W @ h for one (H,) vector (gemv)."""
    if batch == 1:
        return W.dot
    WT = np.ascontiguousarray(W.T)  # see scaled_transpose
    return lambda h, out: np.dot(h, WT, out)


class TanhCell(Cell):
    """The video's vanilla RNN: h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)."""

    kind = "rnn"
    gates = 1
    state_slots = 1
    names = ("Wxh", "Whh", "bh")
    reports_reach = True

    def forward(self, xproj, Wh, state0, need_grads=True):
        _, T, B, H = xproj.shape
        hs = np.empty((T + 1, B, H), dtype=xproj.dtype)  # hs[0] is h_{-1}
        hs[0] = state0[0]
        h, x = _step_views(hs), _step_views(xproj[0])  # (H,) vectors when B == 1: BLAS gemv
        matvec = _recurrent_product(Wh, B)
        add, tanh = np.add, np.tanh
        for t in range(T):
            # in place: h_t = tanh(xproj_t + Whh h_{t-1})
            ht = h[t + 1]
            matvec(h[t], ht)
            add(ht, x[t], ht)
            tanh(ht, ht)
        return hs[1:], hs, hs[T][None].copy()

    def backward(self, dhs, cache, Wh, reach=None):
        hs = cache  # (T+1, B, H)
        T, B, H = dhs.shape
        # tanh' for all steps at once: 1 - h^2
        dtanh = np.multiply(hs[1:], hs[1:])
        np.subtract(1.0, dtanh, out=dtanh)
        dxproj = dhs  # reuse the buffer: dhraw overwrites dhs step by step
        dh, dt = _step_views(dhs), _step_views(dtanh)
        dn = np.zeros_like(dh[0])  # gradient into h from the next step
        back = _recurrent_product(Wh.T, B)  # dn = Whh^T dhraw
        add, mul, vdot = np.add, np.multiply, np.vdot
        for t in range(T - 1, -1, -1):
            d = dh[t]
            add(d, dn, d)  # backprop into h: from the output and from the next step
            if reach is not None:  # d is now dL/dh_t, all of it (the gradient-health probe)
                reach[t] = vdot(d, d)  # squared here, the square root once below
            mul(dt[t], d, d)  # through tanh: d becomes dhraw
            back(d, dn)
        if reach is not None:
            np.sqrt(reach, out=reach)
        # all steps in one matmul: dWhh = sum_t dhraw_t^T h_{t-1}
        dWh = dxproj.reshape(-1, H).T @ hs[:-1].reshape(-1, H)
        return dxproj, dWh

    def step(self, xproj, Wh, state):
        return np.tanh(xproj + state[0] @ Wh.T)[None]

    def trace(self, xproj, Wh, state0):
        _, T, B, H = xproj.shape
        WhT = np.ascontiguousarray(Wh.T)  # (H, H); see scaled_transpose
        hs = np.empty((T, B, H), dtype=xproj.dtype)
        h = state0[0]  # (B, H)
        for t in range(T):
            h = np.tanh(xproj[0, t] + h @ WhT)  # h_t = tanh(Wxh x_t + bh + Whh h_{t-1})
            hs[t] = h
        return {"h": hs}, h[None].copy()


CELL_TYPES: dict[str, type[Cell]] = {"rnn": TanhCell}


def _register_gated_cells() -> None:
    """Add LSTMCell and GRUCell (their modules import Cell from here, so they load on first use)."""
    from .gru import GRUCell
    from .lstm import LSTMCell

    CELL_TYPES.setdefault("lstm", LSTMCell)
    CELL_TYPES.setdefault("gru", GRUCell)


def make_cell(kind: str, hidden_size: int) -> Cell:
    """A cell by name ('rnn', 'lstm', 'gru')."""
    if kind not in CELL_TYPES:
        _register_gated_cells()
    try:
        return CELL_TYPES[kind](hidden_size)
    except KeyError:
        raise ValueError(f"unknown cell {kind!r}; choose one of {', '.join(CELL_TYPES)}") from None
