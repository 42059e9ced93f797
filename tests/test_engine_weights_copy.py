"""RequestWeights / WeightsCopied: a copy of the parameters made in the training thread between
steps, equal to the parameters at that step, unaffected by later training, read-only, and with
the text to probe (the validation text's start, warmed on the training text just before it)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.commands import RequestWeights
from rnn_tui.engine.events import PROBE_WARMUP_CHARS, Snapshot, WeightsCopied

TEXT = ("the quick brown fox jumps over the lazy dog. " * 60) + ('"Hello," she said. ' * 40)
CONFIG = Config(hidden_size=12, seq_length=8, sample_every=0, val_every=0, seed=3)


def test_the_copy_equals_the_parameters_at_its_step_and_later_training_leaves_it_alone():
    trainer = Trainer(CONFIG, TEXT)
    events: list = []
    copies: list[WeightsCopied] = []
    at_copy: dict = {}

    def publish(event) -> None:
        events.append(event)
        if isinstance(event, WeightsCopied):
            # still in the training thread, between steps: what the parameters are right now
            at_copy.update({name: p.copy() for name, p in trainer.params.items()})
            at_copy["step"] = trainer.step_count
            copies.append(event)

    def steer() -> None:
        # ask from another thread once training is under way, then let it go on
        while trainer.step_count < 5:
            threading.Event().wait(0.001)
        tag = trainer.request_weights("mine")
        assert tag == "mine"

    thread = threading.Thread(target=steer)
    thread.start()
    trainer.run(publish, max_steps=40)
    thread.join()

    (copy,) = copies
    assert copy.tag == "mine" and copy.step == at_copy["step"] >= 5
    assert trainer.step_count == 40 > copy.step
    for name, value in copy.params.items():
        np.testing.assert_array_equal(value, at_copy[name])
        assert value.dtype == trainer.params[name].dtype
        assert not np.array_equal(value, trainer.params[name]), f"{name} was not trained on"
        assert not value.flags.writeable
        assert not np.shares_memory(value, trainer.params[name])
    with pytest.raises(ValueError):
        copy.params["Why"][0, 0] = 1.0
    assert set(copy.params) == set(trainer.params)
    assert Config.from_dict(dict(copy.config)) == trainer.config
    assert copy.vocab == trainer.vocab.chars
    # the answer comes between snapshots, in order, from the training thread's own publish
    assert any(isinstance(e, Snapshot) for e in events)


def test_the_copy_carries_the_validation_passage_and_the_text_before_it():
    trainer = Trainer(CONFIG, TEXT)
    copy = trainer.weights_copy("t")
    train = trainer.vocab.decode(trainer.train_ids)
    val = trainer.vocab.decode(trainer.val_ids)
    assert copy.passage == val[:20_000] and len(copy.passage) == len(val)  # short text: all of it
    assert copy.warmup == train[-PROBE_WARMUP_CHARS:]
    assert TEXT.endswith(copy.passage) and TEXT[: -len(copy.passage)].endswith(copy.warmup)


def test_a_long_validation_text_is_cut_to_the_passage_length():
    text = "".join(chr(97 + (i * 7) % 26) for i in range(250_000))
    trainer = Trainer(CONFIG, text)
    copy = trainer.weights_copy()
    start = len(trainer.train_ids)
    assert copy.passage == text[start : start + 20_000]
    assert copy.warmup == text[start - PROBE_WARMUP_CHARS : start]


def test_without_validation_text_the_passage_is_the_end_of_the_training_text():
    trainer = Trainer(CONFIG.replace(val_fraction=0.0), TEXT)
    copy = trainer.weights_copy()
    assert TEXT.endswith(copy.passage) and copy.passage == TEXT[-20_000:]
    assert TEXT[: -len(copy.passage)].endswith(copy.warmup)


def test_request_weights_is_served_while_paused():
    trainer = Trainer(CONFIG, TEXT)
    trainer.pause()
    got: list[WeightsCopied] = []

    def publish(event) -> None:
        if isinstance(event, WeightsCopied):
            got.append(event)
            trainer.stop()

    trainer.submit(RequestWeights("paused"))
    trainer.run(publish)
    assert [c.tag for c in got] == ["paused"] and got[0].step == 0 == trainer.step_count
