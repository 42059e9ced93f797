"""Commands are checked where they are submitted: a bad one raises in the caller's thread and
never reaches the training thread's queue (engine/trainer.py's `submit`; docs/architecture.md,
"How a command travels"). A remote client ships these same dataclasses, so `submit` itself must
refuse them, not only the shorthands (`update`, `request_sample`, ...) that parse text first."""

from __future__ import annotations

import pytest
from conftest import make_text

from rnn_tui.engine import Config, ConfigError, Trainer, VocabError
from rnn_tui.engine.checkpoint import CheckpointError
from rnn_tui.engine.commands import RequestSample, RollBack, SaveCheckpoint, UpdateHparams

CONFIG = Config(hidden_size=8, seq_length=8, sample_every=0, val_every=0)


@pytest.fixture
def trainer() -> Trainer:
    return Trainer(CONFIG, make_text(2000))  # no checkpoint path: no store


@pytest.mark.parametrize(
    ("command", "error", "words"),
    [
        (UpdateHparams({"learning_rate": -1.0}), ConfigError, "learning_rate"),
        (UpdateHparams({"sample_length": 0}), ConfigError, "sample_length"),
        (UpdateHparams({"no_such_setting": 1}), ConfigError, "no_such_setting"),
        (SaveCheckpoint(), CheckpointError, "no checkpoint path"),
        (RequestSample("€"), VocabError, "vocabulary"),
        (RequestSample("T", length=0), ConfigError, "sample_length"),
        (RequestSample("T", temperature=0.0), ConfigError, "temperature"),
        (RequestSample("T", top_k=-1), ConfigError, "top_k"),
        (RollBack(learning_rate=0.01), CheckpointError, "no checkpoint to roll back to"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else None,
)
def test_a_bad_command_is_refused_by_submit_and_nothing_is_queued(trainer, command, error, words):
    with pytest.raises(error, match=words):
        trainer.submit(command)
    events: list = []
    assert trainer.run(events.append, max_steps=2) == "steps"  # the queue is served every step
    assert trainer.config == CONFIG
    assert trainer.hparam_change_steps == [] and trainer.sample_requests == 0
    assert [type(e).__name__ for e in events] == ["Snapshot"] * len(events)


def test_submit_refuses_what_is_not_a_command(trainer):
    with pytest.raises(TypeError, match="not a command"):
        trainer.submit({"learning_rate": 0.01})
