"""Divergence: a runaway learning rate pauses training in a diverged state, nothing diverged is
ever saved, and a rollback restores the last good parameters with a lower learning rate.
Headless, the same situation ends with exit status 3 and one line saying how to roll back."""

from __future__ import annotations

import math
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from rnn_tui.engine import (
    CheckpointError,
    CheckpointSaved,
    Config,
    RunPolicy,
    Trainer,
    TrainingFailed,
    resume_trainer,
)
from rnn_tui.engine.checkpoint import read_meta
from rnn_tui.engine.events import CheckpointFailed, RolledBack, Snapshot

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = Config(hidden_size=16, seq_length=8, sample_every=0, val_every=50, val_max_chars=300)
ABSURD = 100.0  # the highest learning rate the config accepts

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to inf


def wait_for(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def trained(tmp_path: Path, steps: int = 200) -> Trainer:
    trainer = Trainer(CONFIG, make_text(6000), checkpoint_path=tmp_path / "run" / "latest.npz")
    assert trainer.run(lambda event: None, max_steps=steps) == "steps"
    assert isinstance(trainer.try_save(), CheckpointSaved)
    return trainer


def copies(trainer: Trainer) -> tuple[dict, dict]:
    params = {k: v.copy() for k, v in trainer.params.items()}
    return params, trainer.optimizer.state_dict()


def test_absurd_learning_rate_pauses_diverged_and_rollback_restores_the_last_good_parameters(
    tmp_path,
):
    trainer = trained(tmp_path)
    good_params, good_optimizer = copies(trainer)
    latest = trainer.checkpoint_path
    good_bytes = latest.read_bytes()
    policy = RunPolicy(autosave_seconds=1e-6, on_divergence="pause")  # autosave every step
    events: list = []
    thread = threading.Thread(
        target=lambda: events.append(("result", trainer.run(events.append, policy=policy)))
    )
    trainer.pause()  # so that every step of this run uses the absurd rate
    thread.start()
    try:
        trainer.update(learning_rate=ABSURD)
        trainer.resume()
        failed = wait_for(
            lambda: [e for e in events if isinstance(e, TrainingFailed)], "divergence"
        )
        assert "diverged" in failed[0].reason and "learning rate" in failed[0].reason
        wait_for(
            lambda: any(isinstance(e, Snapshot) and e.run_state == "diverged" for e in events),
            "a diverged snapshot",
        )
        step = trainer.step_count
        time.sleep(0.3)
        assert (
            trainer.run_state == "diverged" and trainer.step_count == step
        )  # no training on garbage
        assert thread.is_alive()  # paused in the diverged state, waiting for a decision
        # nothing diverged was saved: the autosaves were refused and the good file is untouched
        refused = [e for e in events if isinstance(e, CheckpointFailed)]
        assert refused and all("diverged" in e.error for e in refused)
        assert not any(isinstance(e, CheckpointSaved) for e in events)
        assert latest.read_bytes() == good_bytes

        trainer.request_rollback(learning_rate=0.01)
        rolled = wait_for(lambda: [e for e in events if isinstance(e, RolledBack)], "rollback")
        assert rolled[0].step == 200 and rolled[0].learning_rate == 0.01
        wait_for(lambda: trainer.run_state == "paused", "the paused state")
        for name, value in good_params.items():
            assert np.array_equal(trainer.params[name], value), name
        restored = trainer.optimizer.state_dict()
        for name, value in good_optimizer.items():
            assert np.array_equal(restored[name], value), name
        assert trainer.step_count == 200 and trainer.config.learning_rate == 0.01

        trainer.resume()  # and training goes on from there, sanely
        wait_for(lambda: trainer.step_count >= 300, "100 more steps")
        assert len([e for e in events if isinstance(e, TrainingFailed)]) == 1
        assert all(math.isfinite(x) for x in trainer.recent_losses)
        assert trainer.smooth.value < trainer.uniform_loss
    finally:
        trainer.stop()
        thread.join(20)
    assert not thread.is_alive()


def test_weights_wrecked_by_one_step_are_never_saved(tmp_path):
    """A step can wreck the weights before any loss shows it; a save right then must refuse."""
    trainer = trained(tmp_path, steps=300)
    latest = trainer.checkpoint_path
    good = latest.read_bytes()
    trainer.config = trainer.config.replace(learning_rate=ABSURD)
    trainer.train_step()  # its loss was computed before the update, so the step itself succeeds
    result = trainer.try_save()
    assert isinstance(result, CheckpointFailed)
    assert "diverged" in result.error and "unchanged" in result.error
    assert latest.read_bytes() == good
    with pytest.raises(CheckpointError, match="diverged"):
        trainer.save(tmp_path / "elsewhere.npz")
    assert not (tmp_path / "elsewhere.npz").exists()
    assert list(latest.parent.glob(".*.tmp")) == []


def test_rollback_without_a_checkpoint_says_to_start_over(tmp_path):
    trainer = Trainer(CONFIG, make_text(6000), checkpoint_path=tmp_path / "run" / "latest.npz")
    with pytest.raises(CheckpointError, match="no checkpoint to roll back to"):
        trainer.request_rollback(0.01)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnn_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_headless_divergence_exits_3_with_one_line_and_the_rollback_command_works(tmp_path):
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    tiny = ("--hidden-size", "16", "--seq-length", "8", "--sample-every", "0")

    # from the start: there is nothing to roll back to
    fresh = cli(
        "train",
        "corpus.txt",
        *tiny,
        "--headless",
        "--learning-rate",
        "100",
        "--run-dir",
        "first",
        cwd=tmp_path,
    )
    assert fresh.returncode == 3, fresh.stderr
    [line] = fresh.stderr.splitlines()
    assert line.startswith("rnn-tui: error: training diverged")
    assert "nothing was saved" in line and "--learning-rate 10" in line
    assert not (tmp_path / "first" / "latest.npz").exists()

    # from a good checkpoint, saving after every step: the good checkpoint survives
    ok = cli(
        "train",
        "corpus.txt",
        *tiny,
        "--headless",
        "--steps",
        "300",
        "--run-dir",
        "run",
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    latest = tmp_path / "run" / "latest.npz"
    good_step = read_meta(latest)["step"]
    bad = cli(
        "train",
        "--resume",
        "run/latest.npz",
        "--headless",
        "--learning-rate",
        "100",
        "--autosave-seconds",
        "0.0001",
        cwd=tmp_path,
    )
    assert bad.returncode == 3
    [line] = bad.stderr.splitlines()
    assert "Traceback" not in bad.stderr
    # the suggested rate is the one the good checkpoint was trained with, not 100 / 10
    assert "roll back with: rnn-tui --resume run/latest.npz --learning-rate 0.1 --headless" in line
    assert read_meta(latest)["step"] == good_step
    resume_trainer(latest, make_text(6000))

    command = shlex.split(line.split("roll back with: ", 1)[1])
    assert command[0] == "rnn-tui"
    again = cli(*command[1:], "--steps", "50", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    meta = read_meta(latest)
    assert meta["step"] == good_step + 50 and meta["config"]["learning_rate"] == 0.1
