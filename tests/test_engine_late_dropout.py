"""Late dropout (`dropout_from_epoch`): no dropout until the run has read the training text that
many times, dropout from then on (Liu et al. 2023, "Dropout Reduces Underfitting": turning
dropout on late regularises a model that would overfit without slowing its early learning)."""

from __future__ import annotations

import numpy as np

from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.metrics_log import metrics_record

CONFIG = Config(
    cell="lstm",
    hidden_size=12,
    num_layers=2,
    batch_size=3,
    seq_length=8,
    optimizer="adam",
    learning_rate=0.01,
    val_every=0,
    sample_every=0,
    dropout=0.3,
    dropout_from_epoch=0.5,
)


def test_dropout_starts_at_the_first_step_past_the_given_epochs(small_text):
    text = small_text[:3000]
    late = Trainer(CONFIG, text)
    plain = Trainer(CONFIG.replace(dropout=0.0), text)
    onset = int(np.ceil(0.5 * len(late.train_ids) / late.chars_per_step))  # first step at 0.5
    assert 5 < onset < 60
    for step in range(onset):
        assert late.epochs_trained < 0.5
        assert late.train_step() == plain.train_step(), f"step {step} should be undropped"
    for name in late.params:
        assert np.array_equal(late.params[name], plain.params[name])
    # the dropout generator was not touched before the onset: the runs share it so far
    assert late.rng.bit_generator.state == plain.rng.bit_generator.state
    assert late.epochs_trained >= 0.5
    assert late.train_step() != plain.train_step()  # the first dropped step
    assert late.rng.bit_generator.state != plain.rng.bit_generator.state


def test_epochs_trained_count_the_characters_trained_on(small_text):
    trainer = Trainer(CONFIG, small_text[:3000])
    for _ in range(7):
        trainer.train_step()
    assert trainer.epochs_trained == 7 * 3 * 8 / len(trainer.train_ids)


def test_the_onset_is_marked_on_the_chart_and_told_to_the_dashboard(small_text):
    trainer = Trainer(CONFIG, small_text[:3000])
    info = trainer.info()
    assert (info.dropout, info.dropout_from_epoch) == (0.3, 0.5)
    onset = int(np.ceil(0.5 * len(trainer.train_ids) / trainer.chars_per_step))
    for _ in range(onset - 1):
        trainer.train_step()
    assert not trainer.snapshot().dropout_active
    assert metrics_record(trainer.snapshot())["dropout_active"] is False
    trainer.train_step()  # the last undropped step
    assert trainer.snapshot().dropout_active  # the next one drops units
    assert metrics_record(trainer.snapshot())["dropout_active"] is True
    assert trainer.hparam_change_steps == []
    trainer.train_step()
    trainer.train_step()
    assert trainer.hparam_change_steps == [onset]  # marked once, where dropout began
