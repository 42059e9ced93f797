"""Probing: run a passage through a model and keep what every unit did at every character.

`trace(model, params, ids)` is a pure function of a parameter copy: it reads the arrays it is
given and never writes to them, so the neuron view can probe while training carries on. It does
not copy them either: the copy must come from the thread that owns the live arrays (the
training thread, between steps), or from a checkpoint. It gives back a `Trace`: per (layer, signal) an
(N, H) float64 array, the next-character distribution after every position, the loss on the
character that actually came next, and helpers for the views (top-k guesses, display scales).

Position t is the state after the model has read ids[t] (step t): `signal(layer, "h")[t]` is
h_t, `probs[t]` is the model's distribution over ids[t + 1], `loss[t]` is -log probs[t, ids[t+1]].
The last position has no following character in the passage: its loss is NaN unless the caller
passes `next_id` (the character after the passage in the corpus).

Signals are those of the cell's `trace` method: "h" for every cell; LSTM adds the memory "c" and
its gates "i", "f", "o" (sigmoid, in [0, 1]) and the candidate "g" (tanh, in [-1, 1]); GRU adds
the update and reset gates "z", "r" (in [0, 1]) and the candidate "n" (in [-1, 1]).

Speed: the input projections are the model's own batched ones (one gather for the first layer,
one product per layer above), so the Python loop holds only the recurrence: one small product
and a few elementwise calls per step and layer. Long passages run in chunks of `chunk`
characters, carrying the state across, which bounds the memory of the model-dtype intermediates
and lets a caller watch progress and cancel between chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .model import CharModel

DEFAULT_CHUNK = 2048  # characters per projection batch (~1.5 MB per gate block at H = 256)

# The natural range of each signal (None: unbounded), for colouring
SIGNAL_RANGES: Mapping[str, tuple[float, float] | None] = MappingProxyType(
    {
        "h": (-1.0, 1.0),
        "c": None,
        "i": (0.0, 1.0),
        "f": (0.0, 1.0),
        "o": (0.0, 1.0),
        "g": (-1.0, 1.0),
        "z": (0.0, 1.0),
        "r": (0.0, 1.0),
        "n": (-1.0, 1.0),
    }
)

SIGNAL_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "h": "hidden output",
        "c": "memory cell",
        "i": "input gate",
        "f": "forget gate",
        "o": "output gate",
        "g": "candidate memory",
        "z": "update gate",
        "r": "reset gate",
        "n": "candidate",
    }
)

ROBUST_QUANTILE = 0.99  # display scale of unbounded signals: this quantile of |value|


class ProbeCancelled(Exception):
    """A probe's `should_abort` returned True; nothing is returned."""


Progress = Callable[[float], None]  # called with the fraction done, in [0, 1]
ShouldAbort = Callable[[], bool]  # polled between chunks; True cancels


@dataclass(frozen=True, eq=False)
class Trace:
    """What a model did over a passage; every array is float64 (except ids) and read-only."""

    ids: np.ndarray  # (N,) the passage's character ids
    cell: str  # "rnn", "lstm" or "gru"
    num_layers: int
    hidden_size: int
    names: tuple[str, ...]  # the signals kept, in the cell's order ("h" first)
    signals: Mapping[tuple[int, str], np.ndarray]  # (layer, name) -> (N, H)
    probs: np.ndarray  # (N, V) next-character distribution after each position
    loss: np.ndarray  # (N,) nats: -log probs[t, ids[t+1]]; NaN at N-1 without next_id
    final_state: np.ndarray  # (L, S, 1, H) model dtype: the state after ids[N-1]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def vocab_size(self) -> int:
        """V, the number of characters the model predicts over."""
        return int(self.probs.shape[1])

    def signal(self, layer: int, name: str) -> np.ndarray:
        """(N, H) values of one signal of one layer; KeyError names what is available."""
        try:
            return self.signals[(layer, name)]
        except KeyError:
            raise KeyError(
                f"no signal {name!r} in layer {layer}: layers 0..{self.num_layers - 1}, "
                f"signals {', '.join(self.names)}"
            ) from None

    def top_k(self, position: int, k: int = 5) -> list[tuple[int, float]]:
        """The k likeliest next ids after `position`, as (id, probability), likeliest first
        (ties: lower id first)."""
        p = self.probs[position]  # (V,)
        order = np.argsort(-p, kind="stable")[:k]
        return [(int(i), float(p[i])) for i in order]

    def display_scale(self, name: str, layer: int | None = None, unit: int | None = None) -> float:
        """The magnitude a view maps to full colour: 1 for bounded signals (h and the gates);
        for the memory c, the 99th percentile of |c| over the passage, of one unit (`unit` of
        `layer`: each cell at its own scale, so a cell that moves within [-1, 3] is not washed
        out by a neighbour that runs to hundreds), of one layer, or of all. Divide and clip to
        [-1, 1]."""
        bounds = SIGNAL_RANGES.get(name)
        if bounds is not None:
            return float(max(abs(bounds[0]), abs(bounds[1])))
        if unit is not None:
            if layer is None:
                raise ValueError("a unit's display scale needs its layer")
            values = np.abs(self.signal(layer, name)[:, unit])
        else:
            layers = range(self.num_layers) if layer is None else (layer,)
            values = np.concatenate([np.abs(self.signal(k, name)).ravel() for k in layers])
        scale = float(np.quantile(values, ROBUST_QUANTILE)) if values.size else 0.0
        return scale if scale > 0.0 else 1.0


def trace(
    model: CharModel,
    params: Mapping[str, np.ndarray],
    ids: np.ndarray,
    warmup_ids: np.ndarray | None = None,
    *,
    next_id: int | None = None,
    state: np.ndarray | None = None,
    keep: Collection[str] | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    should_abort: ShouldAbort | None = None,
) -> Trace:
    """Trace the passage `ids` (N,) through the model, batch 1, from `state` (L, S, 1, H; zeros
    if None) after feeding `warmup_ids` (the text just before the passage; a few hundred
    characters are enough for the state to forget its start).

    `keep` limits the signals stored (e.g. ("h", "c") for the cell finder on a long passage;
    names the cell lacks are ignored; None keeps all). `progress` is called with the fraction
    done and `should_abort` polled after every chunk (ProbeCancelled when it returns True).
    `params` is only read.
    """
    ids = _check_ids(ids, model.vocab_size, "ids")
    if ids.size == 0:
        raise ValueError("the passage to trace is empty")
    warm = (
        np.empty(0, np.intp)
        if warmup_ids is None
        else _check_ids(warmup_ids, model.vocab_size, "warmup_ids")
    )
    if next_id is not None and not 0 <= int(next_id) < model.vocab_size:
        raise ValueError(f"next_id {next_id} is outside the vocabulary (0..{model.vocab_size - 1})")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 (got {chunk})")
    # the model's dtype throughout; np.asarray copies nothing when the dtypes already agree
    params = {name: np.asarray(value, dtype=model.dtype) for name, value in params.items()}
    L, H, V, N = model.num_layers, model.hidden_size, model.vocab_size, ids.size
    if state is None:
        state = model.initial_state(1)
    else:
        expected = (L, model.state_slots, 1, H)
        if np.shape(state) != expected:
            raise ValueError(f"state must have shape {expected} (got {np.shape(state)})")
        state = np.array(state, dtype=model.dtype)  # our own copy: the cells' outputs replace it
    total, done = warm.size + N, 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done / total)
        if should_abort is not None and should_abort():
            raise ProbeCancelled

    # warm-up: the training path's forward, nothing kept but the state
    for s in range(0, warm.size, chunk):
        inputs = warm[s : s + chunk, None]  # (T, 1)
        layer_in = None
        for layer, cell in enumerate(model.cells):
            xproj = model._input_projection(layer, params, inputs, layer_in)  # (G, T, 1, H)
            wh = model.layer_names(layer)[1]
            layer_in, _, state[layer] = cell.forward(
                xproj, params[wh], state[layer], need_grads=False
            )
        tick(inputs.shape[0])

    names: tuple[str, ...] | None = None
    signals: dict[tuple[int, str], np.ndarray] = {}  # (N, H) each, made from the first chunk
    logits = np.empty((N, V))  # (N, V) float64, softmaxed below
    Why, by = params["Why"], params["by"]
    for s in range(0, N, chunk):
        inputs = ids[s : s + chunk, None]  # (T, 1)
        T = inputs.shape[0]
        layer_in = None
        for layer, cell in enumerate(model.cells):
            xproj = model._input_projection(layer, params, inputs, layer_in)  # (G, T, 1, H)
            wh = model.layer_names(layer)[1]
            out, state[layer] = cell.trace(xproj, params[wh], state[layer])
            if names is None:  # the cell says which signals it has
                names = tuple(n for n in out if keep is None or n in keep)
                signals = {(k, n): np.empty((N, H)) for k in range(L) for n in names}
            for n in names:
                signals[(layer, n)][s : s + T] = out[n][:, 0]
            layer_in = out["h"]  # (T, 1, H)
        # the head in the model's dtype, as model.step computes it
        logits[s : s + T] = layer_in[:, 0] @ Why.T + by
        tick(T)

    log_probs = _log_softmax(logits)  # (N, V)
    targets = np.empty(N, dtype=np.intp)  # the character that came next
    targets[:-1] = ids[1:]
    targets[-1] = 0 if next_id is None else int(next_id)
    loss = -log_probs[np.arange(N), targets]  # (N,)
    if next_id is None:
        loss[-1] = np.nan
    probs = np.exp(log_probs, out=log_probs)
    for a in (*signals.values(), probs, loss, state):
        a.setflags(write=False)
    frozen_ids = ids.copy()
    frozen_ids.setflags(write=False)
    return Trace(
        ids=frozen_ids,
        cell=model.cells[0].kind,
        num_layers=L,
        hidden_size=H,
        names=names or (),
        signals=MappingProxyType(signals),
        probs=probs,
        loss=loss,
        final_state=state,
    )


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax in float64, in place: subtracting the row max keeps exp finite, and
    the loss comes from the log, so a tiny probability gives a large finite loss, not inf."""
    logits -= logits.max(axis=1, keepdims=True)
    logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logits


def _check_ids(ids: np.ndarray, vocab_size: int, what: str) -> np.ndarray:
    """ids as a 1-D intp array, or ValueError when they are not ids of this vocabulary."""
    a = np.asarray(ids)
    if a.ndim != 1 or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{what} must be a 1-D array of character ids (got {a.dtype} {a.shape})")
    if a.size and (a.min() < 0 or a.max() >= vocab_size):
        raise ValueError(f"{what} holds ids outside the vocabulary (0..{vocab_size - 1})")
    return a.astype(np.intp, copy=False)
