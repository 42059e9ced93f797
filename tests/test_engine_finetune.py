"""Fine-tuning: a new run on new text that starts from a checkpoint's weights and vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tui.engine import CheckpointError, Config, ConfigError, Trainer, fine_tune_trainer
from rnn_tui.engine.checkpoint import read_meta
from rnn_tui.tui.cli import main

OLD = "the cat sat on the mat and the dog ran to the door. " * 60
NEW = "a dog sat on a cat; then the mat ran to the door. " * 60  # the same characters and ';'
CONFIG = Config(hidden_size=24, seq_length=12, batch_size=2, optimizer="adam", learning_rate=0.01)


@pytest.fixture
def checkpoint(tmp_path):
    trainer = Trainer(CONFIG, OLD + ";")  # ';' is in the old vocabulary too
    for _ in range(15):
        trainer.train_step()
    return trainer, trainer.save(tmp_path / "old.npz")


def test_fine_tuning_starts_from_the_saved_weights_bit_exactly_as_a_new_run(checkpoint, tmp_path):
    old, path = checkpoint
    tuned = fine_tune_trainer(path, NEW, checkpoint_path=tmp_path / "new" / "latest.npz")
    for name, value in old.params.items():
        assert np.array_equal(tuned.params[name], value), name
        assert tuned.params[name].dtype == value.dtype
    assert tuned.vocab == old.vocab
    assert tuned.step_count == 0 and len(tuned.train_curve.array()) == 0
    assert tuned.run_id != old.run_id
    # a fresh optimiser: no memory of the old run
    assert tuned.optimizer.t == 0
    assert all(not value.any() for value in tuned.optimizer.flat_state.values())
    assert not tuned.hidden_state.any()
    # it trains on the new text, and its checkpoints say where it came from
    tuned.train_step()
    saved = tuned.try_save()
    assert read_meta(saved.path)["fine_tuned_from"] == str(path)


def test_keep_optimizer_carries_the_optimiser_memory_over(checkpoint):
    old, path = checkpoint
    tuned = fine_tune_trainer(path, NEW, keep_optimizer=True)
    saved, kept = old.optimizer.state_dict(), tuned.optimizer.state_dict()
    for name, value in saved.items():
        assert np.array_equal(kept[name], value), name


def test_settings_may_change_but_not_the_model(checkpoint):
    _, path = checkpoint
    tuned = fine_tune_trainer(path, NEW, changes={"learning_rate": 0.002, "seq_length": 20})
    assert tuned.config.learning_rate == 0.002 and tuned.config.seq_length == 20
    with pytest.raises(ConfigError, match="hidden_size"):
        fine_tune_trainer(path, NEW, changes={"hidden_size": 32})
    with pytest.raises(ConfigError, match="optimizer"):
        fine_tune_trainer(path, NEW, changes={"optimizer": "sgd"}, keep_optimizer=True)


def test_a_text_with_characters_the_vocabulary_lacks_is_refused_listing_them(checkpoint):
    _, path = checkpoint
    with pytest.raises(CheckpointError) as info:
        fine_tune_trainer(path, NEW + "XYZ!")
    message = str(info.value)
    assert "4 character(s)" in message
    for ch in "XYZ!":
        assert repr(ch) in message
    assert "\n" not in message


def test_the_command_line_fine_tunes_into_a_new_run_and_refuses_new_characters(
    checkpoint, tmp_path, capsys
):
    _, path = checkpoint
    new_text = tmp_path / "new.txt"
    new_text.write_text(NEW, encoding="utf-8")
    run = tmp_path / "tuned"
    args = ["train", str(new_text), "--resume", str(path), "--fine-tune", "--headless"]
    assert main([*args, "--steps", "3", "--run-dir", str(run), "--quiet"]) == 0
    meta = read_meta(run / "latest.npz")
    assert meta["step"] == 3 and meta["fine_tuned_from"] == str(path)
    assert read_meta(path)["step"] == 15  # the old checkpoint is untouched
    capsys.readouterr()
    new_text.write_text(NEW + "Q", encoding="utf-8")
    assert main([*args, "--steps", "3", "--run-dir", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "'Q'" in err and err.count("\n") == 1
    assert not (tmp_path / "again").exists()
