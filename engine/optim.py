"""Optimizers (Adagrad, Adam, SGD with momentum) with state keyed by parameter name, and clipping.

An optimizer knows nothing of the model: it sees the parameters as one flat buffer (with a view
per name) and the gradients laid out the same way, and keeps its memory in
`self.state[slot][name]` views of flat buffers, so checkpoints are a flat dict.
"""

from __future__ import annotations

import math

import numpy as np

from .flat import as_flat, flat_views


class Optimizer:
    """Base: `update(flat_params, flat_grads, lr)` in place; `state_dict()` / `load_state_dict()`.

    Parameters are views of one flat buffer (engine.flat), so an update is a handful of
    whole-buffer calls however many parameters there are; the state is laid out the same way
    and also viewed per parameter name, which is what checkpoints store.
    """

    slots: tuple[str, ...] = ()

    def __init__(self, params: dict[str, np.ndarray]):
        flat = as_flat(params.values())
        if flat is None:
            raise ValueError("parameters must be views of one flat buffer (see engine.flat)")
        shapes = {n: p.shape for n, p in params.items()}
        self.flat_state: dict[str, np.ndarray] = {}
        self.state: dict[str, dict[str, np.ndarray]] = {}
        for slot in self.slots:
            # each slot is one flat buffer with a view per parameter: per-name state, flat speed
            self.flat_state[slot], self.state[slot] = flat_views(shapes, flat.dtype)
        self.t = 0  # updates done (Adam's bias correction)

    def update(self, flat_params: np.ndarray, flat_grads: np.ndarray, lr: float) -> None:
        """Apply one update to every parameter in place."""
        self.t += 1
        self._apply(flat_params, flat_grads, lr, self.flat_state)

    def _apply(self, p: np.ndarray, g: np.ndarray, lr: float, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _scratch(self, like: np.ndarray, which: int = 0) -> np.ndarray:
        """Reusable temporaries (allocating model-sized arrays every step costs page faults)."""
        key = (like.shape, like.dtype.str, which)
        cache = self.__dict__.setdefault("_scratch_cache", {})
        if key not in cache:
            cache[key] = np.empty_like(like)
        return cache[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat 'slot/name' -> array copy, plus the step count."""
        out = {f"{slot}/{n}": a.copy() for slot, d in self.state.items() for n, a in d.items()}
        out["t"] = np.array(self.t, dtype=np.int64)
        return out

    def load_state_dict(self, flat: dict[str, np.ndarray]) -> None:
        """Inverse of state_dict; shapes must already match (checked by the checkpoint loader)."""
        for slot, d in self.state.items():
            for n in d:
                d[n][...] = flat[f"{slot}/{n}"]
        self.t = int(flat["t"])


class Adagrad(Optimizer):
    """The video's optimiser: mem += g*g; p -= lr * g / sqrt(mem + 1e-8)."""

    slots = ("mem",)

    def _apply(self, p, g, lr, state):
        mem = state["mem"]
        scratch = self._scratch(g)
        step = self._scratch(g, 1)
        np.multiply(g, g, out=scratch)
        mem += scratch
        # the video's expression and evaluation order: ((-lr) * g) / sqrt(mem + 1e-8)
        np.multiply(g, p.dtype.type(-lr), out=step)
        np.add(mem, p.dtype.type(1e-8), out=scratch)
        np.sqrt(scratch, out=scratch)
        step /= scratch
        p += step


class Adam(Optimizer):
    """Adam with bias correction and optional decoupled weight decay (AdamW) on matrices."""

    slots = ("m", "v")

    def __init__(
        self,
        params,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params)
        self.beta1, self.beta2, self.eps, self.weight_decay = beta1, beta2, eps, weight_decay
        # decay applies to weight matrices only, not to biases: a mask over the flat buffer
        _, masks = flat_views({n: p.shape for n, p in params.items()}, bool)
        for name, p in params.items():
            masks[name][...] = p.ndim > 1
        self._decayed = as_flat(masks.values())

    def _apply(self, p, g, lr, state):
        m, v = state["m"], state["v"]
        scratch = self._scratch(g)  # in place throughout: no model-sized temporaries per step
        m *= self.beta1
        np.multiply(g, 1 - self.beta1, out=scratch)
        m += scratch
        v *= self.beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1 - self.beta2
        v += scratch
        # fold both bias corrections into the step size
        step = lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        if self.weight_decay:
            np.multiply(p, p.dtype.type(1 - lr * self.weight_decay), out=p, where=self._decayed)
        np.sqrt(v, out=scratch)
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= step
        p -= scratch


class SGD(Optimizer):
    """SGD with (heavy-ball) momentum: v = mu*v - lr*g; p += v."""

    slots = ("velocity",)

    def __init__(self, params, momentum: float = 0.9):
        super().__init__(params)
        self.momentum = momentum

    def _apply(self, p, g, lr, state):
        v = state["velocity"]
        v *= self.momentum
        v -= lr * g
        p += v


OPTIMIZER_SLOTS = {"adagrad": Adagrad.slots, "adam": Adam.slots, "sgd": SGD.slots}


def make_optimizer(name: str, params: dict[str, np.ndarray], **options: float) -> Optimizer:
    """'adagrad' | 'adam' | 'sgd'; options are the config's beta1, beta2, momentum, weight_decay."""
    if name == "adagrad":
        return Adagrad(params)
    if name == "adam":
        return Adam(
            params,
            options.get("beta1", 0.9),
            options.get("beta2", 0.999),
            weight_decay=options.get("weight_decay", 0.0),
        )
    if name == "sgd":
        return SGD(params, options.get("momentum", 0.9))
    raise ValueError(f"unknown optimizer {name!r}")


def clip_by_value(grads: dict[str, np.ndarray] | np.ndarray, limit: float) -> float:
    """Clip every entry to [-limit, limit] in place (the video's np.clip); return the clipped fraction.

    `grads` is a dict of arrays, or one flat array of all of them.
    """
    flat = grads if isinstance(grads, np.ndarray) else as_flat(grads.values())
    if flat is not None:
        if flat.max() <= limit and flat.min() >= -limit:
            return 0.0  # the common case once training settles: two fast reductions, no writes
        clipped = int(np.count_nonzero(np.abs(flat) > limit))
        np.clip(flat, -limit, limit, out=flat)
        return clipped / flat.size
    clipped = total = 0
    for g in grads.values():
        clipped += int(np.count_nonzero(np.abs(g) > limit))
        total += g.size
        np.clip(g, -limit, limit, out=g)
    return clipped / max(total, 1)


def clip_by_global_norm(
    grads: dict[str, np.ndarray] | np.ndarray, max_norm: float, norm: float | None = None
) -> float:
    """Scale all gradients so their global L2 norm is at most max_norm; return the clipped fraction.

    The fraction is 1.0 when the scale applied (every entry changed) and 0.0 otherwise.
    """
    norm = global_norm(grads) if norm is None else norm
    if norm > max_norm and norm > 0:
        scale = max_norm / norm
        for g in [grads] if isinstance(grads, np.ndarray) else grads.values():
            g *= scale
        return 1.0
    return 0.0


def global_norm(grads: dict[str, np.ndarray] | np.ndarray) -> float:
    """sqrt(sum of squares) over every gradient entry (a dict of arrays or one flat array)."""
    flat = grads if isinstance(grads, np.ndarray) else as_flat(grads.values())
    if flat is not None:
        # einsum, not np.dot: OpenBLAS's ddot may wake extra threads for long vectors, which
        # stalls for milliseconds on a busy machine (measured 9 ms vs 11 us here)
        return math.sqrt(float(np.einsum("i,i->", flat, flat)))
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def learning_rate_at(
    step: int,
    base: float,
    schedule: str,
    warmup: int,
    decay_steps: int,
    decay_rate: float,
    total: int,
    min_lr: float = 0.0,
) -> float:
    """Learning rate for `step` (0-based): constant, step decay, or cosine with linear warm-up.

    The cosine runs from `base` at the end of warm-up to `min_lr` (never above the base) at
    `total` steps and stays there.
    """
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    if schedule == "step":
        return base * decay_rate ** ((step - warmup) // decay_steps)
    if schedule == "cosine" and total > warmup:
        progress = min(1.0, (step - warmup) / (total - warmup))
        floor = min(min_lr, base)
        return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return base
