"""The learning-rate range test (engine/lr_find.py): it leaves the model and the optimiser it was
given untouched, is deterministic for a seed, sweeps the rates it says it sweeps, trains like the
Trainer does, and reads its suggestion off the curve by the rule it states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.lr_find import range_test, suggest, sweep_rates

CONFIG = Config(
    cell="lstm",
    hidden_size=16,
    num_layers=2,
    dropout=0.2,
    batch_size=4,
    seq_length=12,
    optimizer="adam",
    learning_rate=0.003,
    clip_mode="norm",
    val_every=0,
    sample_every=0,
    dtype="float64",
)


@pytest.fixture
def trained(small_text):
    """A trainer a few steps into its run, as a paused dashboard's would be."""
    trainer = Trainer(CONFIG, small_text)
    for _ in range(5):
        trainer.train_step()
    return trainer


def test_it_leaves_the_model_and_the_optimiser_untouched(trained):
    params = {name: p.copy() for name, p in trained.params.items()}
    optimiser = {name: a.copy() for name, a in trained.optimizer.state_dict().items()}
    state, rng = trained.hidden_state.copy(), trained.rng.bit_generator.state
    ids = trained.train_ids.copy()
    result = range_test(CONFIG, trained.params, trained.train_ids, len(trained.vocab), steps=40)
    assert len(result.losses) > 10
    for name, p in trained.params.items():
        np.testing.assert_array_equal(p, params[name])
    for name, a in trained.optimizer.state_dict().items():
        np.testing.assert_array_equal(a, optimiser[name])
    np.testing.assert_array_equal(trained.hidden_state, state)
    np.testing.assert_array_equal(trained.train_ids, ids)
    assert trained.rng.bit_generator.state == rng
    assert trained.step_count == 5


def test_it_is_deterministic_for_a_seed_and_the_seed_matters(trained):
    def run(seed):
        return range_test(
            CONFIG, trained.params, trained.train_ids, len(trained.vocab), steps=30, seed=seed
        )

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.rates, b.rates)
    assert (a.suggestion, a.reason) == (b.suggestion, b.reason)
    assert not np.array_equal(a.losses, c.losses)  # dropout masks come from the seed


def test_the_rates_grow_geometrically_from_start_to_end():
    rates = sweep_rates(1e-4, 1.0, 5)
    np.testing.assert_allclose(rates, [1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)
    ratios = sweep_rates(2e-5, 3.0, 300)
    np.testing.assert_allclose(ratios[1:] / ratios[:-1], (3.0 / 2e-5) ** (1 / 299), rtol=1e-9)
    for bad in ((0.0, 1.0, 10), (1.0, 0.5, 10), (1e-3, 1.0, 1)):
        with pytest.raises(ValueError):
            sweep_rates(*bad)


def test_its_steps_are_the_trainers_steps_at_the_swept_rates(small_text):
    # no dropout: the sweep's first steps must equal a Trainer's at those same rates
    config = CONFIG.replace(dropout=0.0)
    trainer = Trainer(config, small_text)
    start = {name: p.copy() for name, p in trainer.params.items()}
    result = range_test(config, start, trainer.train_ids, len(trainer.vocab), steps=8)
    for i, rate in enumerate(result.rates):
        trainer.config = config.replace(learning_rate=float(rate))
        assert trainer.train_step() == pytest.approx(result.losses[i], rel=1e-12)


def test_late_dropout_starts_where_a_run_would_start_it(small_text):
    # a fresh run's first steps have no dropout under dropout_from_epoch: nor do the sweep's
    trainer = Trainer(CONFIG, small_text)
    start = {name: p.copy() for name, p in trainer.params.items()}
    onset = 5  # the step at which the run reaches the epoch below
    epoch = onset * CONFIG.batch_size * CONFIG.seq_length / len(trainer.train_ids)
    args = (start, trainer.train_ids, len(trainer.vocab))
    late = range_test(CONFIG.replace(dropout_from_epoch=epoch), *args, steps=8)
    plain = range_test(CONFIG.replace(dropout=0.0), *args, steps=8)
    np.testing.assert_array_equal(late.losses[:onset], plain.losses[:onset])
    assert late.losses[onset] != plain.losses[onset]


def test_a_blow_up_stops_the_sweep_early(trained):
    result = range_test(
        CONFIG.replace(clip=1e6),
        trained.params,
        trained.train_ids,
        len(trained.vocab),
        start=1e-3,
        end=1e4,
        steps=120,
    )
    assert result.stopped_early and len(result.losses) < 120
    assert result.suggestion < 1e4
    assert all(math.isfinite(x) for x in result.losses)


def test_the_suggestion_is_a_fraction_of_the_rate_at_the_lowest_smoothed_loss():
    rates = sweep_rates(1e-5, 1.0, 11)
    # planted: the lowest point after the skipped start is at rate 1e-2 (index 6)
    smoothed = np.array([0.5, 4.0, 3.9, 3.5, 3.0, 2.6, 2.2, 2.4, 3.0, 5.0, 9.0])
    rate, reason = suggest(rates, smoothed)  # Adam: a twentieth (measured, docs/presets.md)
    assert rate == pytest.approx(5e-4)
    assert reason == (
        "a twentieth of 0.01, where the smoothed loss was lowest (2.200 nats/char) before it rose"
    )
    rate, reason = suggest(rates, smoothed, "sgd")
    assert rate == pytest.approx(1e-3) and reason.startswith("a tenth of 0.01")
    rate, reason = suggest(rates, np.linspace(4, 1, 11))  # still falling at the top
    assert rate == pytest.approx(0.05) and "at the top of the range" in reason
    rate, reason = suggest(rates[:0], np.array([]))
    assert math.isnan(rate) and "lower the range" in reason
    # Adagrad shrinks its own steps: the rate at the lowest loss itself
    rate, reason = suggest(rates, smoothed, "adagrad")
    assert rate == pytest.approx(1e-2)
    assert reason.startswith("adagrad at 0.01, where the smoothed loss was lowest (2.200")
    assert suggest(rates, smoothed, "sgd")[0] == pytest.approx(1e-3)


def test_an_abort_returns_nothing(trained):
    calls = []

    def abort():
        calls.append(1)
        return len(calls) > 3

    assert (
        range_test(
            CONFIG, trained.params, trained.train_ids, len(trained.vocab), should_abort=abort
        )
        is None
    )
    assert len(calls) == 4
