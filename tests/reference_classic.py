"""A plain, per-sample implementation of the classic min-char-rnn algorithm, for comparison.

Written the way the video writes it (column vectors, one-hot inputs, per-time-step dicts, a data
pointer `p`), deliberately slow and obvious, so the engine's batched, vectorised code has an
independent yardstick: same initial weights and data in, same losses and gradients out.

Parameters are a dict with the engine's names ("Wxh", "Whh", "Why", "bh", "by"), but the biases
are column vectors (H, 1) and (V, 1) here, where the engine keeps them 1-D.
"""

from __future__ import annotations

import time

import numpy as np

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_params(V: int, H: int, seed: int, scale: float = 0.01) -> dict[str, np.ndarray]:
    """randn * scale weights drawn in the video's order (Wxh, Whh, Why); zero column-vector biases."""
    rng = np.random.default_rng(seed)
    Wxh = rng.standard_normal((H, V)) * scale  # input to hidden
    Whh = rng.standard_normal((H, H)) * scale  # hidden to hidden
    Why = rng.standard_normal((V, H)) * scale  # hidden to output
    bh = np.zeros((H, 1))  # hidden bias
    by = np.zeros((V, 1))  # output bias
    return {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by}


def loss_fun(inputs, targets, hprev, params):
    """Forward and backward over one window: (loss summed over the window, raw gradients, last h).

    inputs, targets: lists of integer ids; hprev: (H, 1). Gradients are *not* clipped here; see
    `clip`. Gradient names are "d" + parameter name.
    """
    Wxh, Whh, Why, bh, by = (params[n] for n in PARAM_NAMES)
    V = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0.0
    # forward pass
    for t in range(len(inputs)):
        xs[t] = np.zeros((V, 1))  # one-hot encoding of the input character
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)  # hidden state
        ys[t] = np.dot(Why, hs[t]) + by  # unnormalised log probabilities of the next character
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))  # probabilities of the next character
        loss += -np.log(ps[t][targets[t], 0])  # softmax (cross-entropy) loss
    # backward pass
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1  # backprop into y
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext  # backprop into h
        dhraw = (1 - hs[t] * hs[t]) * dh  # backprop through tanh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    grads = {"dWxh": dWxh, "dWhh": dWhh, "dWhy": dWhy, "dbh": dbh, "dby": dby}
    return loss, grads, hs[len(inputs) - 1]


def clip(grads, limit: float = 5.0):
    """The video's exploding-gradient guard: clip every entry to [-limit, limit], in place."""
    for dparam in grads.values():
        np.clip(dparam, -limit, limit, out=dparam)
    return grads


def adagrad(params, grads, mems, learning_rate: float) -> None:
    """mem += dparam * dparam; param += -lr * dparam / sqrt(mem + 1e-8), in place."""
    for name in PARAM_NAMES:
        param, dparam, mem = params[name], grads["d" + name], mems[name]
        mem += dparam * dparam
        param += -learning_rate * dparam / np.sqrt(mem + 1e-8)


class ClassicRun:
    """The video's training loop, one iteration per `step()`: data pointer, reset, clip, Adagrad."""

    def __init__(
        self,
        data_ids,
        V: int,
        seed: int = 0,
        hidden_size: int = 100,
        seq_length: int = 25,
        learning_rate: float = 0.1,
        params=None,
    ):
        self.data = [int(i) for i in data_ids]
        self.V, self.H = V, hidden_size
        self.seq_length = seq_length
        self.learning_rate = learning_rate
        self.params = params if params is not None else init_params(V, hidden_size, seed)
        self.mems = {n: np.zeros_like(p) for n, p in self.params.items()}
        self.hprev = np.zeros((hidden_size, 1))
        self.p = 0  # data pointer
        self.n = 0  # iteration counter

    def window(self):
        """Apply the reset rule, then return (inputs, targets) at the data pointer (no advance)."""
        if self.p + self.seq_length + 1 >= len(self.data) or self.n == 0:
            self.hprev = np.zeros((self.H, 1))  # reset RNN memory
            self.p = 0  # go from start of data
        inputs = self.data[self.p : self.p + self.seq_length]
        targets = self.data[self.p + 1 : self.p + self.seq_length + 1]
        return inputs, targets

    def step(self) -> float:
        """One iteration; the window's loss summed over its characters (nats)."""
        inputs, targets = self.window()
        loss, grads, self.hprev = loss_fun(inputs, targets, self.hprev, self.params)
        clip(grads, 5.0)
        adagrad(self.params, grads, self.mems, self.learning_rate)
        self.p += self.seq_length  # move data pointer
        self.n += 1  # iteration counter
        return float(loss)


def train(data_ids, V: int, iterations: int, seed: int = 0, **options) -> list[float]:
    """Losses (summed over each 25-char window, nats) of the first `iterations` iterations."""
    run = ClassicRun(data_ids, V, seed, **options)
    return [run.step() for _ in range(iterations)]


def chars_per_second(run: ClassicRun, iterations: int) -> float:
    """Time `iterations` steps of `run`; return characters processed per second."""
    t0 = time.perf_counter()
    for _ in range(iterations):
        run.step()
    return iterations * run.seq_length / (time.perf_counter() - t0)
