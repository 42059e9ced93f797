"""Numerical gradient checking by centred differences, for tests and for the curious."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-12) -> float:
    """max |a - n| / max(|a| + |n|, floor), elementwise; 0 when both are zero."""
    denom = np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    return float(np.max(np.abs(analytic - numeric) / denom)) if analytic.size else 0.0


def numerical_gradient(
    loss_fn: Callable[[], float],
    array: np.ndarray,
    eps: float = 1e-5,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Centred differences (f(x+e) - f(x-e)) / 2e of loss_fn w.r.t. `array`, perturbed in place.

    `indices` (flat) limits the check to some entries; the others are left as NaN.
    """
    grad = np.full(array.shape, np.nan)
    flat = array.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + eps
        plus = loss_fn()
        flat[i] = old - eps
        minus = loss_fn()
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(
    loss_fn: Callable[[], float],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    eps: float = 1e-5,
    max_entries: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Relative error of every analytic gradient `grads['d'+name]` against centred differences.

    With `max_entries`, a random subset of each parameter's entries is checked.
    """
    errors = {}
    rng = rng or np.random.default_rng(0)
    for name, array in params.items():
        idx = None
        if max_entries is not None and array.size > max_entries:
            idx = rng.choice(array.size, size=max_entries, replace=False)
        numeric = numerical_gradient(loss_fn, array, eps, idx)
        analytic = np.asarray(grads["d" + name], dtype=np.float64)
        mask = ~np.isnan(numeric)
        errors[name] = relative_error(analytic[mask], numeric[mask])
    return errors
