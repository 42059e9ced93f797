"""Gradient health (engine/gradient_health.py): the numbers are the model's own.

- the gradient reach equals the norms of ‖∂L/∂h_t‖ from a plain per-step BPTT loop written here;
- update ratios equal ‖Δw‖/‖w‖ measured around one real Trainer step, gradient norms and
  clipped fractions equal those of the step's own (pre-clip) gradients;
- σ₁ is np.linalg.norm(Whh, 2);
- measuring changes nothing: a run probed at every step is bit-identical to one never probed;
- the advice names the right hyperparameter in planted cases, and in a real run at a tiny rate.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import make_text

from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.gradient_health import ADVICE_AFTER, GradientHealth, power_sigma
from rnn_tui.engine.metrics_log import metrics_record
from rnn_tui.engine.model import CharModel

TEXT = make_text(3000)


def plain_reach(params, inputs, targets, h0):
    """‖∂L/∂h_t‖ for each t by the textbook loop: forward step by step, then backward, where
    L is the window's summed cross-entropy averaged over the B streams."""
    Wxh, Whh, Why, bh, by = (params[n] for n in ("Wxh", "Whh", "Why", "bh", "by"))
    T, B = inputs.shape
    hs = {-1: h0.copy()}  # (B, H)
    probs = {}
    for t in range(T):
        x = np.zeros((B, Wxh.shape[1]))
        x[np.arange(B), inputs[t]] = 1.0
        hs[t] = np.tanh(x @ Wxh.T + hs[t - 1] @ Whh.T + bh)
        logits = hs[t] @ Why.T + by
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs[t] = e / e.sum(axis=1, keepdims=True)
    reach = np.zeros(T)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        dy = probs[t].copy()
        dy[np.arange(B), targets[t]] -= 1.0
        dy /= B
        dh = dy @ Why + dh_next  # everything that reaches h_t: its own output and step t+1
        reach[t] = np.linalg.norm(dh)
        dh_raw = (1.0 - hs[t] ** 2) * dh
        dh_next = dh_raw @ Whh
    return reach


@pytest.mark.parametrize("batch", [1, 3])
def test_the_reach_is_the_norm_of_each_steps_bptt_gradient(batch):
    config = Config(hidden_size=12, seq_length=9, batch_size=batch, init_scale=0.5)
    model = CharModel(config, 7)
    rng = np.random.default_rng(4)
    params = model.init_params(rng)
    inputs = rng.integers(0, 7, size=(9, batch))
    targets = rng.integers(0, 7, size=(9, batch))
    state = rng.standard_normal((1, 1, batch, 12)) * 0.3
    reach = np.full((1, 9), np.nan)
    model.loss_and_grads(params, inputs, targets, state.copy(), reach_out=reach)
    expected = plain_reach(params, inputs, targets, state[0, 0])
    np.testing.assert_allclose(reach[0], expected, rtol=1e-10, atol=0)
    assert len(set(np.round(expected, 6))) > 5  # a profile, not a constant


def test_asking_for_the_reach_changes_no_gradient():
    config = Config(hidden_size=10, seq_length=7, batch_size=2, num_layers=2)
    model = CharModel(config, 6)
    params = model.init_params(np.random.default_rng(1))
    rng = np.random.default_rng(2)
    inputs, targets = rng.integers(0, 6, size=(2, 7, 2))
    state = model.initial_state(2)
    plain = model.loss_and_grads(params, inputs, targets, state)
    reach = np.full((2, 7), np.nan)
    probed = model.loss_and_grads(params, inputs, targets, state, reach_out=reach)
    assert plain.loss == probed.loss
    for name in plain.grads:
        np.testing.assert_array_equal(plain.grads[name], probed.grads[name])
    assert np.isfinite(reach).all()  # both tanh layers report


def test_gated_cells_report_no_reach():
    config = Config(cell="lstm", hidden_size=8, seq_length=5, num_layers=2)
    trainer = Trainer(config, TEXT)
    trainer.gradient_probe.interval = 0
    trainer.train_step()
    health = trainer.gradient_health
    assert dict(health.reach) == {} and dict(health.sigma) == {}
    assert health.names == tuple(trainer.params)


def probed_trainer(**changes) -> Trainer:
    trainer = Trainer(Config(hidden_size=16, seq_length=10, seed=3).replace(**changes), TEXT)
    trainer.gradient_probe.interval = 0  # every step
    trainer.gradient_probe.budget = None
    return trainer


def test_update_ratios_are_the_weights_change_over_one_real_step():
    trainer = probed_trainer()
    for _ in range(5):
        trainer.train_step()
    before = {name: p.copy() for name, p in trainer.params.items()}
    trainer.train_step()
    health = trainer.gradient_health
    assert health.step == trainer.step_count == 6
    for i, name in enumerate(health.names):
        change = np.linalg.norm(trainer.params[name] - before[name])
        assert health.update_ratios[i] == pytest.approx(
            change / np.linalg.norm(before[name]), rel=1e-12
        )


def test_zero_weights_have_no_ratio():
    trainer = probed_trainer()  # biases start at zero
    trainer.train_step()
    health = trainer.gradient_health
    ratios = dict(zip(health.names, health.update_ratios, strict=True))
    assert math.isnan(ratios["bh"]) and math.isnan(ratios["by"])
    assert math.isfinite(ratios["Whh"])


@pytest.mark.parametrize("clip_mode,clip", [("value", 0.05), ("norm", 0.5), ("value", 1e6)])
def test_gradient_norms_and_clipping_are_those_of_the_steps_own_gradients(clip_mode, clip):
    trainer = probed_trainer(clip_mode=clip_mode, clip=clip)
    trainer.train_step()
    seen = {}
    probe = trainer.gradient_probe
    measure = probe.before_update

    def spy(flat_params, flat_grads, *args):  # the gradients as the step has them, pre-clip
        seen["grads"] = flat_grads.copy()
        measure(flat_params, flat_grads, *args)

    probe.before_update = spy
    trainer.train_step()
    health = trainer.gradient_health
    offset = 0
    total_clipped = 0
    for i, name in enumerate(health.names):
        size = trainer.params[name].size
        g = seen["grads"][offset : offset + size]
        offset += size
        assert health.grad_norms[i] == pytest.approx(np.linalg.norm(g), rel=1e-12)
        if clip_mode == "value":
            clipped = np.count_nonzero(np.abs(g) > clip)
            total_clipped += clipped
            assert health.clipped[i] == clipped / size
        else:
            assert health.clipped[i] == (1.0 if np.linalg.norm(seen["grads"]) > clip else 0.0)
    assert health.clipped_fraction == pytest.approx(trainer.clipped_fraction, abs=1e-15)
    assert health.grad_norm_history.shape == (2, len(health.names))
    if clip == 1e6:
        assert trainer.clipped_fraction == 0.0


def test_sigma_is_the_largest_singular_value_of_the_recurrent_matrix():
    trainer = probed_trainer()
    for _ in range(3):
        trainer.train_step()
    health = trainer.gradient_health
    assert health.sigma_step == 3
    assert health.sigma["Whh"] == pytest.approx(
        np.linalg.svd(trainer.params["Whh"], compute_uv=False)[0], rel=1e-12
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_measuring_at_every_step_changes_nothing(cell):
    config = Config(cell=cell, hidden_size=12, seq_length=8, batch_size=2, seed=5)
    probed, plain = Trainer(config, TEXT), Trainer(config, TEXT)
    probed.gradient_probe.interval, probed.gradient_probe.budget = 0, None
    plain.gradient_probe.interval = None
    for _ in range(12):
        assert probed.train_step() == plain.train_step()
    assert probed.gradient_probe.probes == 12 and plain.gradient_health is None
    for name in plain.params:
        np.testing.assert_array_equal(probed.params[name], plain.params[name])


def test_sigma_of_large_matrices_is_estimated_from_below_and_converges():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((300, 300)) / 30  # above EXACT_SIGMA_MAX: an estimate
    exact = np.linalg.svd(W, compute_uv=False)[0]
    estimate, v = power_sigma(W, None)
    for _ in range(200):  # probe after probe on the same matrix
        assert estimate <= exact * (1 + 1e-12)
        estimate, v = power_sigma(W, v)
    assert estimate == pytest.approx(exact, rel=1e-6)
    config = Config(hidden_size=300, seq_length=3, seed=1)
    trainer = Trainer(config, TEXT)
    trainer.gradient_probe.interval, trainer.gradient_probe.budget = 0, None
    trainer.train_step()
    exact = np.linalg.svd(trainer.params["Whh"], compute_uv=False)[0]
    assert 0.5 * exact < trainer.gradient_health.sigma["Whh"] <= exact * (1 + 1e-12)


def test_a_dear_probe_waits_longer():
    trainer = probed_trainer()
    probe = trainer.gradient_probe
    probe.budget = 0.01
    trainer.train_step()
    assert probe.probes == 1
    probe._cost = 10.0  # as if it had taken 10 s: the next one is 1,000 s away
    for _ in range(5):
        trainer.train_step()
    assert probe.probes == 1
    probe._cost = 0.0
    trainer.train_step()
    assert probe.probes == 2


def health_with(ratios, clipped, clip_mode="value", optimizer="adagrad") -> GradientHealth:
    """A planted measurement: `ratios` for both weights over len(clipped) probes."""
    k = len(clipped)
    history = np.full((k, 3), float(ratios))
    return GradientHealth(
        step=k,
        names=("Wxh", "Whh", "bh"),
        grad_norms=np.ones(3),
        clipped=np.full(3, clipped[-1]),
        update_ratios=history[-1],
        clipped_fraction=float(clipped[-1]),
        grad_norm_history=np.ones((k, 3)),
        update_ratio_history=history,
        clipped_history=np.array(clipped, dtype=float),
        weights=("Wxh", "Whh"),
        clip=5.0,
        clip_mode=clip_mode,
        optimizer=optimizer,
    )


def test_the_advice_names_the_hyperparameter_to_try():
    n = ADVICE_AFTER
    assert health_with(1e-3, [0.0] * n).advice() == ""
    assert "higher learning rate" in health_with(1e-7, [0.0] * n).advice()
    assert "lower learning rate" in health_with(0.5, [0.0] * n).advice()
    assert "larger clip" in health_with(1e-3, [0.9] * n).advice()
    # a global-norm clip rescales what Adam normalises anyway: nothing to say; under SGD it is
    assert health_with(1e-3, [1.0] * n, "norm", "adam").advice() == ""
    assert "clipped" in health_with(1e-3, [1.0] * n, "norm", "sgd").advice()
    assert health_with(1e-7, [0.0] * (n - 1)).advice() == ""  # too early to say


def test_a_run_at_a_tiny_rate_is_told_to_raise_it():
    trainer = probed_trainer(learning_rate=1e-7)
    for _ in range(ADVICE_AFTER + 2):
        trainer.train_step()
    assert "higher learning rate" in trainer.gradient_health.advice()


def test_the_jsonl_record_carries_the_per_parameter_numbers():
    trainer = probed_trainer()
    assert metrics_record(trainer.snapshot())["grad_norms"] is None  # before any step
    for _ in range(3):
        trainer.train_step()
    record = json.loads(json.dumps(metrics_record(trainer.snapshot()), allow_nan=False))
    health = trainer.gradient_health
    assert list(record["grad_norms"]) == list(health.names)
    assert record["grad_norms"]["Whh"] == health.grad_norms[health.row("Whh")]
    assert record["update_ratios"]["Wxh"] == health.update_ratios[health.row("Wxh")]
    assert record["clipped_fraction"] == trainer.clipped_fraction
    assert record["gradient_reach"]["Whh"] == pytest.approx(health.reach["Whh"].tolist())
    assert record["recurrent_sigma"]["Whh"] == health.sigma["Whh"]
