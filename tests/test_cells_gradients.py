"""Gradient checks of the LSTM and GRU cells through the whole model, in float64.

Every analytic gradient of `CharModel.loss_and_grads` is compared entry by entry with centred
differences, for one and two layers, one and three streams, and through the dropout masks between
layers and into the head (the same fixed-seed dropout RNG for the analytic pass and every numeric
evaluation).

About the tolerance: the loss here is ~9 nats and float64 keeps ~16 digits, so a centred difference
carries round-off of ~1e-15 * 9 / eps however right the gradient is, and a truncation error of order
eps^2. Richardson's combination of the differences at eps and 2 eps, (4 D(eps) - D(2 eps)) / 3,
cancels the eps^2 term, so eps = 1e-4 keeps both near 1e-11. Relative error is then measurable on
every entry above ~1e-5; its denominator is floored at 1e-4, which holds the (few) smaller entries
to an absolute error below 1e-10 instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tui.engine import CharModel, Config
from rnn_tui.engine.gradcheck import numerical_gradient, relative_error

V, T = 6, 5  # vocabulary and window of the checked models
TOLERANCE = 1e-6
FLOOR = 1e-4
EPS = 1e-4


def make_case(cell: str, layers: int, batch: int, dropout: float = 0.0, seed: int = 0):
    """A small float64 model with non-trivial weights, biases and initial state, and one window."""
    cfg = Config(
        cell=cell,
        hidden_size=4,
        num_layers=layers,
        batch_size=batch,
        seq_length=T,
        dtype="float64",
        init_scale=0.5,
        dropout=dropout,
    )
    model = CharModel(cfg, V)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    for value in params.values():
        if value.ndim == 1:  # biases start at 0 (1 on the forget gate): move them off those values
            value += 0.3 * rng.standard_normal(value.shape)
    inputs = rng.integers(0, V, (T, batch))
    targets = rng.integers(0, V, (T, batch))
    state = 0.5 * rng.standard_normal(model.initial_state(batch).shape)
    return model, params, inputs, targets, state


def gradient_errors(
    model, params, inputs, targets, state, dropout_seed: int | None = None
) -> dict[str, float]:
    """Per parameter: the largest (floored) relative error of the analytic gradient."""

    def run():
        rng = None if dropout_seed is None else np.random.default_rng(dropout_seed)
        return model.loss_and_grads(params, inputs, targets, state.copy(), rng)

    grads = {k: v.copy() for k, v in run().grads.items()}
    errors = {}
    for name, value in params.items():
        coarse = numerical_gradient(lambda: run().loss, value, 2 * EPS)
        fine = numerical_gradient(lambda: run().loss, value, EPS)
        numeric = (4 * fine - coarse) / 3  # Richardson: the eps^2 error term cancels
        errors[name] = relative_error(grads["d" + name], numeric, floor=FLOOR)
    return errors


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("layers", "batch"), [(1, 1), (1, 3), (2, 1), (2, 3)])
def test_gradients_match_centred_differences(cell, layers, batch):
    model, params, inputs, targets, state = make_case(cell, layers, batch)
    errors = gradient_errors(model, params, inputs, targets, state)
    assert set(errors) == set(params)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_gradients_flow_through_a_fixed_dropout_mask(cell, layers):
    """One layer: the head's mask alone; two: the mask between the layers and the head's."""
    model, params, inputs, targets, state = make_case(
        cell, layers=layers, batch=3, dropout=0.3, seed=1
    )
    # the mask really is applied: another seed gives another loss
    loss_a = model.loss_and_grads(
        params, inputs, targets, state.copy(), np.random.default_rng(5)
    ).loss
    loss_b = model.loss_and_grads(
        params, inputs, targets, state.copy(), np.random.default_rng(6)
    ).loss
    assert loss_a != loss_b
    errors = gradient_errors(model, params, inputs, targets, state, dropout_seed=5)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_floor_is_not_hiding_the_gradient(cell):
    """Most entries are far above the floor, so the check above is a relative check for them."""
    model, params, inputs, targets, state = make_case(cell, layers=2, batch=3)
    grads = model.loss_and_grads(params, inputs, targets, state.copy()).grads
    recurrent = np.abs(grads["dl0.Wh"])
    assert np.mean(recurrent > 10 * FLOOR) > 0.5


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_stays_float32_end_to_end(cell):
    cfg = Config(
        cell=cell,
        hidden_size=8,
        num_layers=2,
        batch_size=3,
        seq_length=T,
        dtype="float32",
        dropout=0.2,
    )
    model = CharModel(cfg, V)
    params = model.init_params(np.random.default_rng(0))
    inputs = np.random.default_rng(1).integers(0, V, (T, 3))
    result = model.loss_and_grads(
        params, inputs, inputs, model.initial_state(3), np.random.default_rng(2)
    )
    assert result.state.dtype == np.float32 and result.hidden.dtype == np.float32
    assert all(g.dtype == np.float32 for g in result.grads.values())
    assert set(result.grads) == {"d" + k for k in params}
    logits, state = model.step(params, inputs[0], model.initial_state(3))
    assert logits.dtype == np.float32 and state.dtype == np.float32


def test_lstm_forget_gate_bias_starts_at_one():
    model = CharModel(Config(cell="lstm", hidden_size=5, num_layers=2), V)
    params = model.init_params(np.random.default_rng(0))
    for layer in range(2):
        b = params[f"l{layer}.b"].reshape(4, 5)  # gate blocks (o, i, f, g)
        assert np.array_equal(b[2], np.ones(5))
        assert not b[[0, 1, 3]].any()


def test_gru_biases_start_at_zero():
    model = CharModel(Config(cell="gru", hidden_size=5), V)
    params = model.init_params(np.random.default_rng(0))
    assert params["b"].shape == (15,) and not params["b"].any()
