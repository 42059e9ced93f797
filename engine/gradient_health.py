"""Gradient health, measured around one real training step every so often.

Per parameter: the norm of its gradient (before clipping), the fraction of its entries that
clipping changed, and the update-to-weight ratio ‖Δw‖/‖w‖ of the step (w before the update; the
rule of thumb is about 1e-3). For tanh RNN layers, the classic model's own story: how far back
the gradient reaches, ‖∂L/∂h_t‖ for every step t of the BPTT window (written by the cell's own
backward pass, see TanhCell.backward), and the largest singular value of the recurrent matrix
(below 1 the signal through h shrinks at every step it travels back, before tanh' shrinks it
further; well above 1 it can grow). `advice` turns the numbers into one line naming the
hyperparameter to try.

The Trainer drives a `GradientProbe` in its own thread: `due()` before a step, `begin(T)` for the
reach buffer the backward pass fills, `before_update(...)` between the backward pass and
clipping, and `after_update(...)` once the optimiser has stepped. Probes are spaced in the
training thread's CPU time, not in steps: at least PROBE_INTERVAL apart, and further when a
probe is dear (a big model: copying and differencing its weights), so they never take more than
PROBE_BUDGET of training whether a step takes 0.4 ms (classic) or 80 ms (lstm), and however many
other processes share the cores (wall-clock spacing would probe more often per step of work the
busier the machine is).

σ₁ is exact (an SVD) for recurrent matrices up to EXACT_SIGMA_MAX units; above that an SVD costs
seconds, and σ₁ is estimated by power iteration on WᵀW, POWER_PRODUCTS products per probe,
warm-started from the previous probe's vector (a lower bound that converges as probes go by).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

PROBE_INTERVAL = 0.25  # CPU seconds of training between probes (the panel repaints every 2 s)
PROBE_BUDGET = 0.01  # share of the training thread's CPU time the probes may take
HISTORY = 64  # probes kept for the sparklines
EXACT_SIGMA_MAX = 256  # an SVD of 256 x 256 takes ~6 ms on one core; 2048 x 2048 takes minutes
POWER_PRODUCTS = 8  # W v and W^T u products per probe for larger matrices
SIGMA_EVERY = 4  # probes between singular values (an SVD costs more than the rest of a probe)
# Advice thresholds on the median update ratio of the weight matrices over the last probes,
# two decades either side of the rule of thumb: in their first minutes on kafka.txt the classic
# model (Adagrad 0.1) runs at 1e-3 to 3e-2 and the lstm preset (Adam 5e-3) at 2e-3 to 2e-2,
# while Adagrad at 1e-6 sits at 2e-6 and learns nothing; rates that overshoot diverge within
# a few steps, before any advice (the divergence message says what to do then).
RATIO_TOO_LARGE = 0.1
RATIO_TOO_SMALL = 1e-5
CLIPPED_MOSTLY = 0.5  # share of entries (value clipping) or of probes (norm clipping, SGD)
ADVICE_AFTER = 8  # probes to wait before advising (the first updates are always large)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)  # holds arrays: identity, not element-wise, equality
class GradientHealth:
    """One probe's numbers, with the recent history for sparklines (oldest first)."""

    step: int  # the step measured (step_count after it)
    names: tuple[str, ...]  # parameter names, in the model's flat order
    grad_norms: np.ndarray  # (P,) ‖g‖ per parameter, before clipping
    clipped: np.ndarray  # (P,) fraction of each parameter's entries that clipping changed
    update_ratios: np.ndarray  # (P,) ‖Δw‖/‖w‖ of the step (NaN where ‖w‖ was 0)
    clipped_fraction: float  # fraction of all entries that clipping changed
    grad_norm_history: np.ndarray  # (K, P) grad_norms of the last K probes
    update_ratio_history: np.ndarray  # (K, P) update_ratios of the last K probes
    clipped_history: np.ndarray  # (K,) clipped_fraction of the last K probes
    weights: tuple[str, ...]  # the weight matrices (not biases): what the advice looks at
    reach: Mapping[str, np.ndarray] = field(default_factory=dict)  # recurrent name -> (T,)
    sigma: Mapping[str, float] = field(default_factory=dict)  # recurrent name -> largest σ
    sigma_step: int = -1  # step the singular values were computed at (-1: none yet)
    clip: float = 0.0
    clip_mode: str = "value"
    optimizer: str = "adagrad"

    def row(self, name: str) -> int:
        """Index of parameter `name` in the per-parameter arrays."""
        return self.names.index(name)

    def median_weight_ratio(self) -> float:
        """The median update ratio of the weight matrices over the kept probes (NaN if none)."""
        columns = [self.row(n) for n in self.weights]
        values = self.update_ratio_history[:, columns]
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else math.nan

    def advice(self) -> str:
        """One line when something is far off, naming the hyperparameter to try; '' if fine."""
        if len(self.clipped_history) < ADVICE_AFTER:
            return ""
        clipped = float(np.mean(self.clipped_history))
        # Value clipping of most entries leaves little but their signs. A global-norm clip only
        # rescales the whole gradient, which Adam and Adagrad all but undo (their steps do not
        # depend on the gradient's scale), so it is worth a word under plain SGD only.
        if clipped > CLIPPED_MOSTLY and (self.clip_mode == "value" or self.optimizer == "sgd"):
            what = "entries" if self.clip_mode == "value" else "steps"
            return (
                f"{clipped:.0%} of gradient {what} are clipped at {self.clip:g}: "
                "try a larger clip or a lower learning rate"
            )
        ratio = self.median_weight_ratio()
        if ratio > RATIO_TOO_LARGE:
            return (
                f"updates are far too large (‖Δw‖/‖w‖ ≈ {ratio:.1e}, rule of thumb 1e-3): "
                "try a lower learning rate"
            )
        if ratio < RATIO_TOO_SMALL:
            return (
                f"updates are far too small (‖Δw‖/‖w‖ ≈ {ratio:.1e}, rule of thumb 1e-3): "
                "try a higher learning rate"
            )
        return ""

    def to_log(self) -> dict[str, Any]:
        """The fields of a JSONL metrics record (strict JSON: non-finite numbers are null)."""
        return {
            "gradient_step": self.step,
            "grad_norms": _named(self.names, self.grad_norms),
            "update_ratios": _named(self.names, self.update_ratios),
            "clipped_fractions": _named(self.names, self.clipped),
            "gradient_reach": {n: [_finite(x) for x in r.tolist()] for n, r in self.reach.items()},
            "recurrent_sigma": {n: _finite(s) for n, s in self.sigma.items()},
            "gradient_advice": self.advice() or None,
        }


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _named(names: tuple[str, ...], values: np.ndarray) -> dict[str, float | None]:
    return {n: _finite(v) for n, v in zip(names, values.tolist(), strict=True)}


def largest_singular_value(W: np.ndarray) -> float:
    """‖W‖₂, exactly (an SVD: a fraction of a millisecond for the classic 100×100)."""
    return float(np.linalg.norm(np.asarray(W, dtype=np.float64), 2))


def power_sigma(
    W: np.ndarray, v: np.ndarray | None, products: int = POWER_PRODUCTS
) -> tuple[float, np.ndarray]:
    """σ₁ of W estimated by `products` rounds of power iteration on WᵀW from `v` (None: a
    fixed start); returns the estimate (never above σ₁) and the vector to start from next."""
    W = np.asarray(W, dtype=np.float64)
    if v is None:
        v = np.ones(W.shape[1]) / math.sqrt(W.shape[1])
    for _ in range(products):
        v = W.T @ (W @ v)
        size = np.linalg.norm(v)
        if not size > 0:
            return 0.0, np.ones(W.shape[1]) / math.sqrt(W.shape[1])
        v = v / size
    return float(np.linalg.norm(W @ v)), v


class GradientProbe:
    """Measures gradient health around a training step, in the training thread."""

    def __init__(
        self,
        model: Any,
        params: dict[str, np.ndarray],
        *,
        interval: float | None = PROBE_INTERVAL,
        history: int = HISTORY,
        budget: float | None = PROBE_BUDGET,
    ) -> None:
        """`params` are the model's parameters as views of one flat buffer, in flat order.
        `interval` is the seconds between probes (0: every step; None: never); `budget` the
        share of time probes may take (None: no limit, every `interval` whatever they cost)."""
        self.interval = interval
        self.budget = budget
        self.names = tuple(params)
        self._views = [params[n] for n in self.names]
        self.weights = tuple(n for n in self.names if params[n].ndim == 2)
        self.recurrent = {  # layer -> recurrent weight name, for layers that report reach
            layer: model.layer_names(layer)[1]
            for layer, cell in enumerate(model.cells)
            if cell.reports_reach
        }
        self.num_layers = len(model.cells)
        self._sizes = np.array([v.size for v in self._views], dtype=np.float64)  # (P,)
        self._offsets = np.concatenate([[0], np.cumsum(self._sizes[:-1])]).astype(np.intp)
        self._before = np.empty(int(self._sizes.sum()), dtype=self._views[0].dtype)
        self._last: float | None = None
        self._history: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=history)
        self._grad_norms = np.zeros(len(self.names))
        self._clipped = np.zeros(len(self.names))
        self._reach: np.ndarray | None = None
        self._sigma: dict[str, float] = {}
        self._sigma_step = -1
        self._vectors: dict[str, np.ndarray] = {}  # power iteration's warm starts
        self._cost = 0.0  # seconds a probe takes (its own work, not the step's), smoothed
        self._cost_now = 0.0  # ... and the one under way
        self._started = 0.0
        self.probes = 0

    def due(self) -> bool:
        """Whether the next step should be measured."""
        if self.interval is None:
            return False
        if self._last is None:
            return True
        wait = (
            self.interval if self.budget is None else max(self.interval, self._cost / self.budget)
        )
        return time.thread_time() - self._last >= wait

    def begin(self, seq_length: int) -> np.ndarray | None:
        """Start a probe; the (L, T) buffer the backward pass writes the reach into (None when
        no layer reports it)."""
        self._last = time.thread_time()
        if not self.recurrent:
            self._reach = None
        else:
            self._reach = np.full((self.num_layers, seq_length), np.nan)
        return self._reach

    def before_update(
        self,
        flat_params: np.ndarray,
        flat_grads: np.ndarray,
        clip: float,
        clip_mode: str,
        norm: float,
    ) -> None:
        """After the backward pass, before clipping: gradient norms, what clipping will change,
        and a copy of the weights the update starts from."""
        self._started = time.thread_time()
        # per-parameter sums as one reduceat over the flat buffer (one call, not one per array)
        self._grad_norms = np.sqrt(np.add.reduceat(np.square(flat_grads), self._offsets))
        if clip_mode == "value":
            beyond = np.add.reduceat(np.abs(flat_grads) > clip, self._offsets, dtype=np.int64)
            self._clipped = beyond / self._sizes
        else:  # a global-norm clip scales every entry, or none
            self._clipped = np.full(len(self.names), 1.0 if norm > clip and norm > 0 else 0.0)
        np.copyto(self._before, flat_params)
        self._cost_now = time.thread_time() - self._started

    def after_update(
        self, step: int, flat_params: np.ndarray, clip: float, clip_mode: str, optimizer: str
    ) -> GradientHealth:
        """After the optimiser stepped: the update ratios, and the whole probe as a snapshot."""
        started = time.thread_time()
        before = self._before
        weights = np.sqrt(np.add.reduceat(np.square(before), self._offsets))
        np.subtract(flat_params, before, out=before)  # the copy becomes Δw
        changes = np.sqrt(np.add.reduceat(np.square(before), self._offsets))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(weights > 0, changes / weights, np.nan)
        clipped_fraction = float(np.dot(self._clipped, self._sizes) / self._sizes.sum())
        self._history.append((self._grad_norms, ratios, clipped_fraction))
        self._singular_values(step)
        self.probes += 1
        reach = {}
        if self._reach is not None:
            reach = {
                name: _read_only(self._reach[layer].copy())
                for layer, name in self.recurrent.items()
            }
        health = GradientHealth(
            step=step,
            names=self.names,
            grad_norms=_read_only(self._grad_norms.copy()),
            clipped=_read_only(self._clipped.copy()),
            update_ratios=_read_only(ratios),
            clipped_fraction=clipped_fraction,
            grad_norm_history=_read_only(np.array([h[0] for h in self._history])),
            update_ratio_history=_read_only(np.array([h[1] for h in self._history])),
            clipped_history=_read_only(np.array([h[2] for h in self._history])),
            weights=self.weights,
            reach=MappingProxyType(reach),
            sigma=MappingProxyType(dict(self._sigma)),
            sigma_step=self._sigma_step,
            clip=float(clip),
            clip_mode=clip_mode,
            optimizer=optimizer,
        )
        cost = self._cost_now + time.thread_time() - started
        # smoothed, because one probe in SIGMA_EVERY also computes σ₁; the very first one pays
        # for first calls into LAPACK and says nothing about the others
        self._cost = 0.0 if self.probes == 1 else 0.75 * self._cost + 0.25 * cost
        return health

    def _singular_values(self, step: int) -> None:
        """σ₁ of each tanh layer's recurrent matrix: exact for small ones, else power iteration."""
        if not self.recurrent:
            return
        if self.budget is not None and self.probes % SIGMA_EVERY:
            return  # σ₁ moves slowly: about once a second is enough
        views = dict(zip(self.names, self._views, strict=True))
        for name in self.recurrent.values():
            W = views[name]
            if max(W.shape) <= EXACT_SIGMA_MAX:
                self._sigma[name] = largest_singular_value(W)
            else:
                self._sigma[name], self._vectors[name] = power_sigma(W, self._vectors.get(name))
        self._sigma_step = step
