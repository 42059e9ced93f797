"""Centred-difference gradient checks (float64) of every parameter of the tanh RNN model.

Batch 1 and batch > 1, one and two layers, a non-zero initial state, non-zero biases and weights
much bigger than the classic 0.01 so that no gradient is tiny and relative errors mean something.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tui.engine import Config
from rnn_tui.engine.gradcheck import check_gradients, numerical_gradient, relative_error
from rnn_tui.engine.model import CharModel

V, H, T = 6, 7, 5


def _setup(batch_size: int, num_layers: int, dropout: float = 0.0, seed: int = 1):
    config = Config(
        hidden_size=H,
        num_layers=num_layers,
        batch_size=batch_size,
        seq_length=T,
        init_scale=0.5,
        dropout=dropout,
        dtype="float64",
    )
    model = CharModel(config, V)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    for name, value in params.items():
        if name.rsplit(".", 1)[-1].startswith("b"):  # biases start at zero: make them count
            value += rng.standard_normal(value.shape) * 0.3
    inputs = rng.integers(0, V, size=(T, batch_size))  # (T, B)
    targets = rng.integers(0, V, size=(T, batch_size))  # (T, B)
    state = np.tanh(rng.standard_normal(model.initial_state(batch_size).shape))  # (L, S, B, H)
    return model, params, inputs, targets, state


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_rnn_gradient_matches_centred_differences(batch_size, num_layers):
    model, params, inputs, targets, state = _setup(batch_size, num_layers)
    state_before = state.copy()
    result = model.loss_and_grads(params, inputs, targets, state)
    assert np.array_equal(state, state_before), "loss_and_grads must not modify the state passed in"
    assert set(result.grads) == {"d" + n for n in params}
    for name, p in params.items():
        assert result.grads["d" + name].shape == p.shape
        assert result.grads["d" + name].dtype == np.float64

    def loss() -> float:
        return model.loss_and_grads(params, inputs, targets, state).loss

    errors = check_gradients(loss, params, result.grads)
    assert set(errors) == set(params)
    bad = {name: err for name, err in errors.items() if not err < 1e-6}
    assert not bad, f"relative errors above 1e-6: {bad}"
    # the checked gradients are not trivially zero
    for name in params:
        assert np.max(np.abs(result.grads["d" + name])) > 1e-3, name


def test_gradients_with_dropout_between_layers_match_for_a_fixed_mask():
    model, params, inputs, targets, state = _setup(3, 2, dropout=0.3)
    result = model.loss_and_grads(params, inputs, targets, state, np.random.default_rng(9))
    undropped = model.loss_and_grads(params, inputs, targets, state).loss
    assert result.loss != undropped, "dropout should change the loss"

    def loss() -> float:
        # the same generator seed every call: the same masks, a deterministic function
        return model.loss_and_grads(params, inputs, targets, state, np.random.default_rng(9)).loss

    errors = check_gradients(loss, params, result.grads)
    bad = {name: err for name, err in errors.items() if not err < 1e-6}
    assert not bad, f"relative errors above 1e-6: {bad}"


def test_loss_is_the_batch_mean_of_per_stream_losses():
    model, params, inputs, targets, state = _setup(3, 1)
    batched = model.loss_and_grads(params, inputs, targets, state)
    singles = [
        model.loss_and_grads(
            params, inputs[:, b : b + 1], targets[:, b : b + 1], state[:, :, b : b + 1]
        )
        for b in range(3)
    ]
    assert batched.loss == pytest.approx(np.mean([s.loss for s in singles]), rel=1e-12)
    for name in batched.grads:
        mean = np.mean([s.grads[name] for s in singles], axis=0)
        np.testing.assert_allclose(batched.grads[name], mean, rtol=1e-10, atol=1e-13)
    for b, single in enumerate(singles):
        np.testing.assert_allclose(
            batched.state[:, :, b], single.state[:, :, 0], rtol=1e-12, atol=0
        )
    # the forward-only loss is the sum over streams
    forward, _ = model.loss(params, inputs, targets, state)
    assert forward == pytest.approx(batched.loss * 3, rel=1e-12)


def test_gradient_check_catches_a_wrong_gradient():
    model, params, inputs, targets, state = _setup(1, 1)
    result = model.loss_and_grads(params, inputs, targets, state)
    result.grads["dWhh"][2, 3] *= 1.001  # a 0.1% error in one entry

    def loss() -> float:
        return model.loss_and_grads(params, inputs, targets, state).loss

    errors = check_gradients(loss, params, result.grads)
    assert errors["Whh"] > 1e-4
    assert all(err < 1e-6 for name, err in errors.items() if name != "Whh")


def test_numerical_gradient_of_a_known_function_and_subset():
    x = np.array([1.0, -2.0, 0.5])
    numeric = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(numeric, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # restored after perturbation
    partial = numerical_gradient(lambda: float(np.sum(x**3)), x, indices=np.array([1]))
    assert np.isnan(partial[0]) and np.isnan(partial[2])
    assert partial[1] == pytest.approx(12.0, rel=1e-8)
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)


def test_float32_model_gives_float32_gradients_close_to_float64():
    model64, params, inputs, targets, state = _setup(3, 2)
    model32 = CharModel(model64.config.replace(dtype="float32"), V)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    r64 = model64.loss_and_grads(params, inputs, targets, state)
    r32 = model32.loss_and_grads(params32, inputs, targets, state.astype(np.float32))
    assert r32.loss == pytest.approx(r64.loss, rel=1e-5)
    assert r32.state.dtype == np.float32
    for name, g in r64.grads.items():
        assert r32.grads[name].dtype == np.float32, name
        np.testing.assert_allclose(r32.grads[name], g, rtol=1e-3, atol=1e-5 * np.max(np.abs(g)))


@pytest.mark.parametrize(
    "dtype, scale",
    [("float64", 1e3), ("float32", 100.0), ("float64", 590.0), ("float32", 65.0)],
    ids=["float64-shifted", "float32-shifted", "float64-unshifted", "float32-unshifted"],
)
def test_wide_logits_match_a_plain_log_sum_exp(dtype, scale):
    """Logits beyond exp's range (shifted path) or just inside the no-shift bound (EXP_SAFE) must
    give the same loss and gradients as a max-shifted softmax in float64."""
    model, params, inputs, targets, state = _setup(3, 1)
    params["by"][...] = np.linspace(-scale, scale, V)  # exp(+-scale) over/underflows unshifted
    if dtype == "float32":
        model = CharModel(
            Config(hidden_size=H, batch_size=3, seq_length=T, init_scale=0.5, dtype="float32"), V
        )
        params = {n: p.astype(np.float32) for n, p in params.items()}
        state = state.astype(np.float32)
    result = model.loss_and_grads(params, inputs, targets, state)
    assert np.isfinite(result.loss) and all(np.isfinite(g).all() for g in result.grads.values())
    # plain reference: the same forward, softmax with the row max subtracted, in float64
    hs = result.hidden.reshape(-1, H).astype(np.float64)
    logits = hs @ params["Why"].T.astype(np.float64) + params["by"].astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(T * 3)
    expected_loss = -log_probs[rows, targets.reshape(-1)].sum() / 3
    dy = np.exp(log_probs)
    dy[rows, targets.reshape(-1)] -= 1.0
    rtol = 1e-9 if dtype == "float64" else 1e-4
    assert result.loss == pytest.approx(expected_loss, rel=rtol)
    np.testing.assert_allclose(result.grads["dby"], dy.sum(axis=0) / 3, rtol=rtol, atol=rtol)
    forward, _ = model.loss(params, inputs, targets, state)
    assert forward == pytest.approx(expected_loss * 3, rel=rtol)
