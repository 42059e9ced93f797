"""Every cell and preset trains through the Trainer: resume is bit-exact, checkpoints round-trip,
and validation and sampling work."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_tui.engine import (
    PRESETS,
    CheckpointSaved,
    Config,
    SampleReady,
    Trainer,
    preset,
    resume_trainer,
)
from rnn_tui.engine.streams import validation_loss

N = 12  # steps before and after the checkpoint


def run_to(trainer: Trainer, steps: int) -> list:
    events: list = []
    assert trainer.run(events.append, max_steps=steps) == "steps"
    return events


def periodic_samples(events: list) -> list[tuple[int, str]]:
    return [(e.step, e.text) for e in events if isinstance(e, SampleReady) and not e.requested]


def small(name: str, **changes) -> Config:
    """A preset scaled down to test size, with validation and samples inside the window."""
    settings = dict(
        hidden_size=32,
        batch_size=4,
        seq_length=16,
        val_every=5,
        val_max_chars=300,
        sample_every=7,
        sample_length=30,
    )
    return preset(name).replace(**{**settings, **changes})


@pytest.mark.parametrize(
    "config",
    [
        small("lstm"),
        small("lstm", dropout=0.25, schedule="cosine", warmup_steps=4, total_steps=40),
        small("gru"),
        small("classic"),
        small("small"),
    ],
    ids=["lstm", "lstm-dropout-cosine", "gru", "classic", "small"],
)
def test_resume_from_checkpoint_is_bit_exact(config, small_text, tmp_path):
    straight = Trainer(config, small_text)
    straight_events = run_to(straight, 2 * N)

    first = Trainer(config, small_text)
    first_events = run_to(first, N)
    path = first.save(tmp_path / "half.npz")
    resumed = resume_trainer(path, small_text)
    resumed_events = run_to(resumed, 2 * N)

    assert resumed.step_count == straight.step_count == 2 * N
    for name in straight.params:
        assert resumed.params[name].dtype == straight.params[name].dtype
        assert np.array_equal(resumed.params[name], straight.params[name]), name
    a, b = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert set(a) == set(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert np.array_equal(resumed.hidden_state, straight.hidden_state)
    assert list(resumed.recent_losses) == list(straight.recent_losses)
    assert np.array_equal(resumed.val_curve.array(), straight.val_curve.array())
    assert resumed.rng.bit_generator.state == straight.rng.bit_generator.state
    assert periodic_samples(first_events) + periodic_samples(resumed_events) == periodic_samples(
        straight_events
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_cell_trains_validates_samples_and_round_trips(cell, dtype, small_text, tmp_path):
    config = Config(
        cell=cell,
        hidden_size=16,
        num_layers=2,
        dropout=0.1,
        batch_size=3,
        seq_length=12,
        optimizer="adam",
        learning_rate=0.01,
        clip_mode="norm",
        dtype=dtype,
        val_every=4,
        val_max_chars=500,
        sample_every=0,
        init_scale=0.1,
    )
    trainer = Trainer(config, small_text, checkpoint_path=tmp_path / "run.npz")
    first_losses = [trainer.train_step() for _ in range(3)]
    events = run_to(trainer, 40)
    assert all(math.isfinite(x) for x in trainer.recent_losses)
    assert np.mean(list(trainer.recent_losses)[-5:]) < np.mean(first_losses)  # it learns
    assert trainer.val_loss is not None and math.isfinite(trainer.val_loss)
    assert trainer.params["l0.Wh" if cell != "rnn" else "l0.Whh"].dtype == np.dtype(dtype)

    text = trainer.sample("The", 50, rng=np.random.default_rng(0))
    assert text.startswith("The") and len(text) == 53
    assert set(text) <= set(trainer.vocab.chars)
    assert trainer.sample("T", 20, greedy=True) == trainer.sample("T", 20, greedy=True)

    trainer.request_checkpoint()
    events = run_to(trainer, 40)  # the request is served before the step limit ends the run
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert len(saved) == 1 and saved[0].step == 40
    restored = resume_trainer(saved[0].path, small_text)
    # the restored trainer is the one that saved, in every part that decides what comes next
    assert restored.step_count == trainer.step_count == 40
    assert restored.info().cell == cell
    for name, value in trainer.params.items():
        assert np.array_equal(restored.params[name], value), name
    saved_memory, restored_memory = trainer.optimizer.state_dict(), restored.optimizer.state_dict()
    assert saved_memory.keys() == restored_memory.keys()
    for name, value in saved_memory.items():
        assert np.array_equal(restored_memory[name], value), name
    assert np.array_equal(restored.hidden_state, trainer.hidden_state)
    assert restored.hidden_state.dtype == trainer.hidden_state.dtype
    assert restored.evaluate() == trainer.evaluate()
    sampled = [t.sample("a", 30, rng=np.random.default_rng(4)) for t in (restored, trainer)]
    assert sampled[0] == sampled[1]
    # the next periodic sample: the trainers' own sample RNG, live hidden state and last target
    periodic = [t.periodic_sample() for t in (restored, trainer)]
    assert (periodic[0].seed, periodic[0].text) == (periodic[1].seed, periodic[1].text)
    assert restored.train_step() == trainer.train_step()  # dropout RNG and data cursor too
    for name, value in trainer.params.items():
        assert np.array_equal(restored.params[name], value), name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_trainer_controls_work_for_gated_cells(cell, small_text, tmp_path):
    trainer = Trainer(small(cell, sample_every=0), small_text)
    run_to(trainer, 3)
    trainer.update(learning_rate=0.001, clip=1.0)
    request = trainer.request_sample("T", 10)
    trainer.request_checkpoint(tmp_path / "c.npz")
    trainer.pause()
    events: list = []
    assert trainer.run(events.append, should_stop=lambda: len(events) > 3) == "stopped"
    assert trainer.step_count == 3  # paused: commands served, no step taken
    assert trainer.config.learning_rate == 0.001 and trainer.config.clip == 1.0
    assert any(
        isinstance(e, SampleReady) and e.tag == request and len(e.text) == 11 for e in events
    )
    assert any(isinstance(e, CheckpointSaved) and e.step == 3 for e in events)
    trainer.resume()
    run_to(trainer, 6)
    assert trainer.step_count == 6


def test_validation_covers_every_cell_with_the_whole_text(small_text):
    for cell in ("rnn", "lstm", "gru"):
        trainer = Trainer(small("lstm", cell=cell, num_layers=1, val_max_chars=0), small_text)
        full = validation_loss(trainer.model, trainer.params, trainer.val_ids)
        # untrained: close to a uniform guess over the vocabulary
        assert full == pytest.approx(math.log(len(trainer.vocab)), rel=0.05)
        assert trainer.evaluate() == full


def test_presets_are_valid_and_round_trip():
    # (their documented values are pinned in tests/test_presets_documented.py)
    assert PRESETS["classic"] == Config()
    assert {"classic", "small", "lstm", "gru"} <= set(PRESETS)
    for name in ("lstm", "gru"):
        cfg = PRESETS[name]
        assert cfg.cell == name and cfg.num_layers == 2 and cfg.optimizer == "adam"
        assert cfg.clip_mode == "norm" and cfg.dtype == "float32"
    for cfg in PRESETS.values():
        assert Config.from_dict(cfg.to_dict()) == cfg  # valid, and round-trips
