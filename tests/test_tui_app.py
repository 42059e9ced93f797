"""Pilot tests that drive the real dashboard app around a small, fast trainer."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rnn_tui.engine import Config, Trainer, resume_trainer
from rnn_tui.tui.app import RnnTuiApp, make_app
from rnn_tui.tui.dashboard import DashboardScreen
from rnn_tui.tui.dialogs import SampleDialog
from rnn_tui.tui.widgets import HyperparameterPanel, KeyBar, LossPlot, SamplePanel, StatusPanel

SIZE = (120, 40)
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "then",
    "it",
    "ran",
    "to",
    "the",
    "old",
    "red",
    "door",
    "while",
    "gregor",
    "slept",
    "in",
    "his",
    "room",
    "a",
    "quiet",
    "morning",
    "came",
    "over",
    "the",
    "town",
]


def small_text(chars: int = 6000, seed: int = 0) -> str:
    """A deterministic made-up text: sentences of common words."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < chars:
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 12))]
        parts.append(" ".join(words).capitalize() + (". " if rng.random() < 0.8 else ".\n"))
    return "".join(parts)


TEXT = small_text()
CONFIG = Config(
    hidden_size=32, seq_length=16, sample_every=50, sample_length=60, val_every=50, seed=0
)


def new_trainer(folder: Path, **changes) -> Trainer:
    """A fresh trainer on the small text, saving into folder/run."""
    return Trainer(
        CONFIG.replace(**changes) if changes else CONFIG,
        TEXT,
        corpus_name="small",
        checkpoint_path=folder / "run" / "latest.npz",
    )


def new_app(trainer: Trainer, tmp_path: Path, **kwargs) -> RnnTuiApp:
    """The dashboard on `trainer`."""
    return make_app(
        trainer, corpus_lines=["small: 6,000 chars", "26 distinct characters"], **kwargs
    )


async def wait_for(
    pilot, condition: Callable[[], bool], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until `condition()` holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


def dashboard(app: RnnTuiApp) -> DashboardScreen:
    """The app's dashboard screen."""
    return app.dashboard


def status_text(app: RnnTuiApp, line: str) -> str:
    """The plain text of one status line."""
    return str(app.dashboard.query_one(f"#status-{line}").render())


async def quit_app(pilot, app: RnnTuiApp) -> str:
    """Press q and wait for the app to hand back its message."""
    await pilot.press("q")
    await wait_for(pilot, lambda: app.return_value is not None, what="the app to exit")
    return app.return_value


async def test_space_freezes_the_step_counter_and_a_second_space_resumes_it(tmp_path):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await wait_for(pilot, lambda: trainer.step_count > 20, what="training to start")
        await pilot.press("space")
        await wait_for(
            pilot,
            lambda: screen.snapshot is not None and screen.snapshot.run_state == "paused",
            what="the pause to take effect",
        )
        frozen = trainer.step_count
        assert "PAUSED" in status_text(app, "state")
        assert f"{frozen:,}" in status_text(app, "state")
        assert "-paused" in app.dashboard.query_one(StatusPanel).classes
        keys = str(app.dashboard.query_one(KeyBar).render())
        assert "Resume" in keys and "Pause" not in keys
        for _ in range(10):
            await pilot.pause(0.02)
        assert trainer.step_count == frozen
        await pilot.press("space")
        await wait_for(pilot, lambda: trainer.step_count > frozen, what="training to resume")
        await wait_for(pilot, lambda: "RUNNING" in status_text(app, "state"), what="the status")
        await quit_app(pilot, app)


async def test_s_writes_a_checkpoint_that_loads_and_resumes(tmp_path):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path)
    path = tmp_path / "run" / "latest.npz"
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: trainer.step_count > 10, what="training to start")
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: path.exists() and "latest.npz" in status_text(app, "checkpoint"),
            what="the checkpoint",
        )
        assert any("Checkpoint saved" in (n.title or "") for n in app._notifications)
        await pilot.press("space")
        await quit_app(pilot, app)
    resumed = resume_trainer(path, TEXT)
    assert resumed.step_count == trainer.step_count  # the quit saved again, at the final step
    before = resumed.step_count
    resumed.train_step()
    assert resumed.step_count == before + 1


async def test_sample_dialog_returns_text_from_the_seed_and_leaves_training_unchanged(tmp_path):
    trainer, twin = new_trainer(tmp_path), new_trainer(tmp_path / "twin")
    for _ in range(30):
        trainer.train_step()
        twin.train_step()
    app = new_app(trainer, tmp_path, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: dashboard(app).snapshot is not None, what="the first snapshot"
        )
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SampleDialog), what="the dialog")
        dialog = app.screen
        dialog.query_one("#sample-seed").value = "the "
        dialog.query_one("#sample-length").value = "40"
        await pilot.click("#sample-generate")
        await wait_for(pilot, lambda: dialog.result is not None, what="the sample")
        assert dialog.result.text.startswith("the ")
        assert len(dialog.result.text) == len("the ") + 40
        shown = str(dialog.query_one("#sample-output").render())
        assert shown.startswith("the ")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard(app), what="the dialog to close")
        await quit_app(pilot, app)
    assert trainer.step_count == twin.step_count == 30
    assert trainer.train_step() == twin.train_step()


async def test_sample_key_does_nothing_while_training_runs(tmp_path):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: trainer.step_count > 5, what="training to start")
        await pilot.press("g")
        await pilot.pause(0.05)
        assert not isinstance(app.screen, SampleDialog)
        await quit_app(pilot, app)


async def test_a_hyperparameter_edit_reaches_the_trainer(tmp_path):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: dashboard(app).snapshot is not None, what="the first snapshot"
        )
        field = app.dashboard.query_one(HyperparameterPanel).input_for("learning_rate")
        await pilot.click(field)
        field.value = ""
        await pilot.press(*"0.05", "enter")
        await wait_for(pilot, lambda: trainer.config.learning_rate == 0.05, what="the new rate")
        await wait_for(
            pilot,
            lambda: any("learning_rate = 0.05" in str(n.message) for n in app._notifications),
            what="the notification",
        )
        assert not app.dashboard.query_one("#hp-error").display
        await quit_app(pilot, app)
    assert trainer.hparam_change_steps == [0]


async def test_a_scheduled_learning_rate_shows_the_rate_in_use_beside_its_base(tmp_path):
    trainer = new_trainer(
        tmp_path, schedule="cosine", total_steps=40, learning_rate=0.1, min_lr=0.01
    )
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.dashboard.query_one(HyperparameterPanel)
        await wait_for(pilot, lambda: trainer.step_count > 60, what="the end of the decay")
        await pilot.press("space")
        await wait_for(pilot, lambda: dashboard(app).run_state == "paused", what="the pause")
        await wait_for(
            pilot,
            lambda: panel.border_subtitle == "lr 0.01 · cosine to step 40",
            what="the decayed rate and its schedule",
        )
        assert panel.input_for("learning_rate").value == "0.1"  # the base stays editable
        await quit_app(pilot, app)


async def test_a_constant_learning_rate_needs_no_second_number(tmp_path):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: trainer.step_count > 5, what="a few steps")
        await pilot.pause(0.2)
        assert app.dashboard.query_one(HyperparameterPanel).border_subtitle == ""
        await quit_app(pilot, app)


@pytest.mark.parametrize("typed", ["-1", "fast"])
async def test_an_invalid_edit_shows_an_error_and_changes_nothing(tmp_path, typed):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: dashboard(app).snapshot is not None, what="the first snapshot"
        )
        panel = app.dashboard.query_one(HyperparameterPanel)
        field = panel.input_for("learning_rate")
        await pilot.click(field)
        field.value = ""
        await pilot.press(*typed, "enter")
        error = app.dashboard.query_one("#hp-error")
        await wait_for(pilot, lambda: error.display, what="the inline error")
        assert "learning_rate" in str(error.render())
        assert "-invalid-value" in field.classes
        for _ in range(5):
            await pilot.pause(0.02)
        assert trainer.config.learning_rate == CONFIG.learning_rate
        assert trainer.hparam_change_steps == []
        await pilot.press("escape")  # leave the field (reverting it) so q is a key again
        assert field.value == "0.1" and not error.display
        await quit_app(pilot, app)


async def test_quit_while_paused_saves_and_exits_with_the_resume_command(tmp_path):
    trainer = new_trainer(tmp_path)
    for _ in range(12):
        trainer.train_step()
    app = new_app(trainer, tmp_path, start_paused=True)
    path = tmp_path / "run" / "latest.npz"
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: dashboard(app).snapshot is not None, what="the first snapshot"
        )
        message = await quit_app(pilot, app)
    assert path.exists()
    assert str(path) in message and "step 12" in message
    assert f"rnn-tui --resume {path}" in message
    assert resume_trainer(path, TEXT).step_count == 12


async def test_resuming_restores_the_step_counter_and_curves_on_screen(tmp_path):
    first = new_trainer(tmp_path)
    for _ in range(120):
        first.train_step()
    first.periodic_sample()
    path = first.save(tmp_path / "earlier.npz")
    trainer = resume_trainer(path, TEXT)
    app = new_app(trainer, tmp_path, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: dashboard(app).snapshot is not None, what="the first snapshot"
        )
        assert "120" in status_text(app, "state")
        plot = app.dashboard.query_one(LossPlot)
        await wait_for(pilot, lambda: len(plot.train_curve) == 120, what="the curves")
        assert plot.replots > 0
        assert len(plot.val_curve) == 2
        assert plot.val_curve[-1, 0] == 100
        assert app.dashboard.query_one(SamplePanel).latest_step == 120
        await quit_app(pilot, app)


async def test_a_diverged_run_shows_why_and_quits_without_saving(tmp_path):
    trainer = new_trainer(tmp_path)
    real_step = trainer.train_step

    def failing_step() -> float:
        if trainer.step_count >= 5:
            raise FloatingPointError(
                "loss became nan at step 6 (learning rate is probably too high)"
            )
        return real_step()

    trainer.train_step = failing_step
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await wait_for(
            pilot,
            lambda: "-diverged" in screen.query_one(StatusPanel).classes,
            what="the diverged state",
        )
        assert "DIVERGED" in status_text(app, "state")
        assert "loss became nan" in status_text(app, "message")
        await pilot.press("space")  # nothing to pause; must not crash
        message = await quit_app(pilot, app)
    assert "No checkpoint was saved" in message
    assert not (tmp_path / "run" / "latest.npz").exists()


async def test_r_rolls_a_diverged_run_back_to_the_last_good_checkpoint(tmp_path):
    trainer = new_trainer(tmp_path)
    for _ in range(20):
        trainer.train_step()
    saved = trainer.try_save()
    assert saved.step == 20
    good = {name: value.copy() for name, value in trainer.params.items()}
    trainer.config = trainer.config.replace(learning_rate=80.0)  # far too high: diverges
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await wait_for(pilot, lambda: screen.run_state == "diverged", what="the divergence")
        await wait_for(
            pilot,
            lambda: "Roll back" in str(screen.query_one(KeyBar).render()),
            what="the key bar to offer the rollback",
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.run_state == "paused", what="the rollback")
        assert trainer.step_count == 20
        # a tenth of the rate that diverged (8) is still above the checkpoint's own rate (0.1):
        # the rollback never trains faster than the good checkpoint did
        assert trainer.config.learning_rate == pytest.approx(CONFIG.learning_rate)
        for name, value in good.items():
            assert (trainer.params[name] == value).all(), name
        assert "PAUSED" in status_text(app, "state")
        assert any("Rolled back" in (n.title or "") for n in app._notifications)
        await quit_app(pilot, app)


async def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
    trainer = new_trainer(tmp_path)
    app = new_app(trainer, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: trainer.step_count > 5, what="training to start")
        assert signal.SIGTERM in app._signals
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_for(pilot, lambda: app.return_value is not None, what="the app to exit")
    assert "rnn-tui --resume" in app.return_value
    assert (tmp_path / "run" / "latest.npz").exists()


async def test_metrics_log_gets_json_lines(tmp_path):
    trainer = new_trainer(tmp_path)
    log = tmp_path / "metrics.jsonl"
    app = new_app(trainer, tmp_path, metrics_log=log)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: log.exists() and len(log.read_text().splitlines()) >= 2,
            what="two log lines",
        )
        await quit_app(pilot, app)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"step", "loss", "smooth_loss", "val_loss", "chars_per_sec", "elapsed"} <= set(
        records[0]
    )
    assert records[-1]["step"] >= records[0]["step"]


async def test_a_too_small_terminal_shows_a_message(tmp_path):
    app = new_app(new_trainer(tmp_path), tmp_path, start_paused=True)
    async with app.run_test(size=(70, 20)) as pilot:
        await wait_for(
            pilot, lambda: dashboard(app).snapshot is not None, what="the first snapshot"
        )
        assert app.dashboard.query_one("#too-small").display
        assert app.dashboard.query_one("#too-small").region.width > 0
        assert app.dashboard.query_one("#body").region.width == 0
        await quit_app(pilot, app)


async def test_help_opens_and_closes(tmp_path):
    app = new_app(new_trainer(tmp_path), tmp_path, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen is not dashboard(app), what="the help")
        assert "26 distinct characters" in str(app.screen.query_one("Static").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard(app), what="the help to close")
        await quit_app(pilot, app)


async def test_the_status_says_when_late_dropout_begins(tmp_path):
    trainer = new_trainer(tmp_path, dropout=0.3, dropout_from_epoch=0.2)
    onset = int(np.ceil(0.2 * len(trainer.train_ids) / trainer.chars_per_step))
    app = new_app(trainer, tmp_path, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: dashboard(app).run_state == "paused", what="the pause")
        await wait_for(
            pilot,
            lambda: "dropout from epoch 0.2" in status_text(app, "epoch"),
            what="the waiting dropout",
        )
        assert trainer.step_count < onset
        await pilot.press("space")
        await wait_for(pilot, lambda: trainer.step_count > onset + 5, what="the onset")
        await wait_for(
            pilot,
            lambda: status_text(app, "epoch").endswith("dropout 0.3"),
            what="the dropout in use",
        )
        assert trainer.hparam_change_steps[0] == onset  # and the loss chart marks where
        await quit_app(pilot, app)
