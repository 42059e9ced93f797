"""Dropout into the output head, checked against a plain reimplementation.

The model drops units on every non-recurrent connection (Zaremba et al. 2014): between layers and
from the top layer into the softmax head, so a one-layer model is regularised too. Here the
one-layer case is recomputed by hand: the undropped hidden outputs, times a mask drawn from the
same generator the way the model draws it, through the head and a plain log-softmax.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tui.engine import CharModel, Config

V, T, B, P = 7, 6, 3, 0.4


def _case(cell: str):
    cfg = Config(
        cell=cell,
        hidden_size=5,
        batch_size=B,
        seq_length=T,
        dtype="float64",
        dropout=P,
        init_scale=0.5,
    )
    model = CharModel(cfg, V)
    rng = np.random.default_rng(3)
    params = model.init_params(rng)
    params["by"] += rng.standard_normal(V)
    inputs = rng.integers(0, V, (T, B))
    targets = rng.integers(0, V, (T, B))
    state = 0.3 * rng.standard_normal(model.initial_state(B).shape)
    return model, params, inputs, targets, state


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_layer_loss_equals_a_plain_head_dropout(cell):
    model, params, inputs, targets, state = _case(cell)
    plain = model.loss_and_grads(params, inputs, targets, state.copy())  # no generator: no dropout
    mask = (np.random.default_rng(11).random((T, B, model.hidden_size)) >= P) / (1.0 - P)
    logits = (plain.hidden * mask) @ params["Why"].T + params["by"]  # (T, B, V)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    picked = np.take_along_axis(log_softmax, targets[..., None], axis=2)
    expected = -picked.sum() / B

    dropped = model.loss_and_grads(params, inputs, targets, state.copy(), np.random.default_rng(11))
    assert dropped.loss == pytest.approx(expected, rel=1e-12)
    assert abs(dropped.loss - plain.loss) > 1e-3  # the mask changed something
    # what the dashboard shows is the layer's own output, not the dropped copy
    np.testing.assert_array_equal(dropped.hidden, plain.hidden)
    np.testing.assert_array_equal(dropped.state, plain.state)  # the recurrence is never dropped
