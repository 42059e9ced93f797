"""The fused, batched LSTM and GRU cells equal a plain textbook implementation written here.

The reference runs one stream and one time step at a time on column vectors, with a separate
weight matrix and bias per gate and sigmoid written as 1 / (1 + exp(-x)). It shares nothing with
the engine except the documented gate order of the fused matrices.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tui.engine import CharModel, Config
from rnn_tui.engine.cells import make_cell

H, V = 6, 9


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def split_gates(Wx, Wh, b, names):
    """Per-gate (Wx_k (H, I), Wh_k (H, H), b_k (H, 1)) from the fused (G*H, .) arrays."""
    return {
        name: (Wx[k * H : (k + 1) * H], Wh[k * H : (k + 1) * H], b[k * H : (k + 1) * H, None])
        for k, name in enumerate(names)
    }


def plain_lstm(x, h, c, gates):
    """One step, one stream: x (I, 1), h and c (H, 1)."""

    def pre(name):
        Wx, Wh, b = gates[name]
        return Wx @ x + Wh @ h + b

    i, f, o = sigmoid(pre("i")), sigmoid(pre("f")), sigmoid(pre("o"))
    g = np.tanh(pre("g"))
    c = f * c + i * g
    return o * np.tanh(c), c


def plain_gru(x, h, gates):
    """One step, one stream, candidate n = tanh(Wx_n x + b_n + r * (Wh_n h))."""

    def parts(name):
        Wx, Wh, b = gates[name]
        return Wx @ x + b, Wh @ h

    z = sigmoid(sum(parts("z")))
    r = sigmoid(sum(parts("r")))
    xn, hn = parts("n")
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def plain_model_forward(cell, params, inputs, state, layers):
    """Hidden outputs (T, B, H) of the top layer and the final state, stream by stream, step by step."""
    T, B = inputs.shape
    order = {"lstm": ("o", "i", "f", "g"), "gru": ("z", "r", "n")}[cell]
    prefix = (lambda layer: f"l{layer}.") if layers > 1 else (lambda layer: "")
    gates = [
        split_gates(
            params[prefix(k) + "Wx"], params[prefix(k) + "Wh"], params[prefix(k) + "b"], order
        )
        for k in range(layers)
    ]
    top = np.zeros((T, B, H))
    final = np.zeros_like(state)
    for s in range(B):
        h = [state[k, 0, s][:, None] for k in range(layers)]
        c = [state[k, 1, s][:, None] for k in range(layers)] if cell == "lstm" else None
        for t in range(T):
            x = np.zeros((V, 1))
            x[inputs[t, s]] = 1.0  # one-hot input, as in min-char-rnn
            for k in range(layers):
                if cell == "lstm":
                    h[k], c[k] = plain_lstm(x, h[k], c[k], gates[k])
                else:
                    h[k] = plain_gru(x, h[k], gates[k])
                x = h[k]
            top[t, s] = x[:, 0]
        for k in range(layers):
            final[k, 0, s] = h[k][:, 0]
            if cell == "lstm":
                final[k, 1, s] = c[k][:, 0]
    return top, final


def random_model(cell, layers, batch, seed=0):
    cfg = Config(
        cell=cell,
        hidden_size=H,
        num_layers=layers,
        batch_size=batch,
        dtype="float64",
        init_scale=0.4,
    )
    model = CharModel(cfg, V)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    for value in params.values():
        if value.ndim == 1:
            value += 0.2 * rng.standard_normal(value.shape)
    state = 0.5 * rng.standard_normal(model.initial_state(batch).shape)
    inputs = rng.integers(0, V, (7, batch))
    return model, params, inputs, state


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("layers", "batch"), [(1, 1), (2, 4)])
def test_batched_forward_equals_the_plain_one_step_at_a_time_version(cell, layers, batch):
    model, params, inputs, state = random_model(cell, layers, batch)
    expected_top, expected_final = plain_model_forward(cell, params, inputs, state, layers)
    result = model.loss_and_grads(params, inputs, inputs, state.copy())
    np.testing.assert_allclose(result.hidden, expected_top, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.state, expected_final, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampling_step_equals_the_training_forward(cell):
    """CharModel.step (used by the sampler) walks the same recurrence as the batched forward."""
    model, params, inputs, state = random_model(cell, 2, 3, seed=1)
    result = model.loss_and_grads(params, inputs, inputs, state.copy())
    s = state.copy()
    for t in range(inputs.shape[0]):
        logits, s = model.step(params, inputs[t], s)
    np.testing.assert_allclose(s, result.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s[-1, 0], result.hidden[-1], rtol=0, atol=1e-12)
    assert logits.shape == (3, V)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_only_loss_equals_the_training_loss(cell):
    model, params, inputs, state = random_model(cell, 2, 3, seed=2)
    targets = np.roll(inputs, 1, axis=0)
    trained = model.loss_and_grads(params, inputs, targets, state.copy())
    summed, final = model.loss(params, inputs, targets, state.copy())
    assert summed / 3 == pytest.approx(trained.loss, rel=1e-12)
    np.testing.assert_allclose(final, trained.state, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cell_leaves_the_weights_and_the_state_alone(cell, dtype):
    """forward may overwrite its gate-major input projections (the model hands it a fresh array),
    but never the recurrent weight or the initial state, which the trainer still holds."""
    c = make_cell(cell, H)
    rng = np.random.default_rng(3)
    xproj = rng.standard_normal((c.gates, 5, 2, H)).astype(dtype)
    Wh = (0.3 * rng.standard_normal((c.gates * H, H))).astype(dtype)
    state0 = rng.standard_normal((c.state_slots, 2, H)).astype(dtype)
    copies = [a.copy() for a in (Wh, state0)]
    hs, _cache, final = c.forward(xproj, Wh, state0)
    for before, after in zip(copies, (Wh, state0), strict=True):
        assert np.array_equal(before, after)
    assert hs.dtype == final.dtype == np.dtype(dtype)
    assert hs.shape == (5, 2, H) and final.shape == (c.state_slots, 2, H)
    np.testing.assert_array_equal(final[0], hs[-1])
