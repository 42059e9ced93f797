"""The schedule on the Hyperparameters panel and the dashboard's learning-rate finder, driven
through the real app with Pilot. The panel shows the rate in use and the schedule with its
horizon, as the trainer computes them. `l` on a paused run sweeps a copy of its weights (the
run's own weights and step stay as they were), shows the chart and the suggestion (the same the
engine computes on the same copy), and Apply sets it as the run's learning rate; Close changes
nothing; a running model offers no finder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.lr_find import range_test
from rnn_tui.tui.app import make_app
from rnn_tui.tui.lr_dialog import LearningRateDialog

SIZE = (120, 40)
TEXT = ("the quick brown fox jumps over the lazy dog. " * 150)[:6000]
CONFIG = Config(
    hidden_size=24, batch_size=2, seq_length=16, sample_every=0, val_every=0, learning_rate=0.1
)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def paused_app(tmp_path: Path):
    trainer = Trainer(CONFIG, TEXT, corpus_name="small", checkpoint_path=tmp_path / "latest.npz")
    for _ in range(3):
        trainer.train_step()
    return trainer, make_app(trainer, start_paused=True, autosave_seconds=0)


def dialog_of(app) -> LearningRateDialog | None:
    screen = app.screen
    return screen if isinstance(screen, LearningRateDialog) else None


async def open_finder(pilot, app, trainer):
    await wait_for(pilot, lambda: app.dashboard.run_state == "paused", what="the pause")
    await pilot.press("l")
    await wait_for(pilot, lambda: dialog_of(app) is not None, what="the finder dialog")
    dialog = dialog_of(app)
    await wait_for(pilot, lambda: dialog.result is not None, what="the sweep")
    return dialog


async def test_l_sweeps_a_copy_of_the_paused_model_and_apply_sets_the_suggestion(tmp_path):
    trainer, app = paused_app(tmp_path)
    before = {name: p.copy() for name, p in trainer.params.items()}
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_finder(pilot, app, trainer)
        # the suggestion is the engine's own on the same copy and text
        expected = range_test(
            trainer.config,
            before,
            trainer.train_ids[: (dialog.sweep_steps + 2) * 2 * 16],
            len(trainer.vocab),
            steps=dialog.sweep_steps,
            seed=trainer.config.seed,
        )
        assert dialog.result.suggestion == expected.suggestion
        np.testing.assert_array_equal(dialog.result.losses, expected.losses)
        status = str(dialog.query_one("#lr-status").render())
        assert f"Suggested rate {expected.suggestion:g}" in status
        assert "learning rate" in str(dialog.query_one("#lr-chart").render())
        assert trainer.step_count == 3  # the run stayed paused and its weights as they were
        for name, p in trainer.params.items():
            np.testing.assert_array_equal(p, before[name])
        await pilot.click("#lr-apply")
        await wait_for(
            pilot,
            lambda: trainer.config.learning_rate == expected.suggestion,
            what="the applied rate",
        )
        assert dialog_of(app) is None
        assert trainer.hparam_change_steps == [3]
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, what="the exit")


async def test_close_changes_nothing_and_a_running_model_offers_no_finder(tmp_path):
    trainer, app = paused_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_finder(pilot, app, trainer)
        await pilot.press("escape")
        await wait_for(pilot, lambda: dialog_of(app) is None, what="the dialog to close")
        await pilot.pause(0.2)
        assert trainer.config.learning_rate == CONFIG.learning_rate
        assert trainer.hparam_change_steps == []
        await pilot.press("space")  # resume: the finder needs a paused model
        await wait_for(pilot, lambda: trainer.step_count > 5, what="training")
        await pilot.press("l")
        await pilot.pause(0.2)
        assert dialog_of(app) is None
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, what="the exit")


async def test_the_hyperparameters_panel_shows_the_schedule_and_its_horizon(tmp_path):
    config = CONFIG.replace(
        optimizer="adam", learning_rate=0.01, schedule="cosine", min_lr=0.001, warmup_steps=2
    )
    trainer = Trainer(config, TEXT, corpus_name="small", checkpoint_path=tmp_path / "latest.npz")
    trainer.set_budget("steps", 1000)
    app = make_app(trainer, autosave_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: trainer.step_count > 20, what="some steps")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.dashboard.run_state == "paused", what="the pause")
        panel = app.dashboard.query_one("#hyperparams")
        # the panel's numbers are the trainer's own, once the paused snapshot is shown
        expected = (
            f"lr {trainer.current_learning_rate():.2g} · cosine {trainer.step_count}/1,000 steps"
        )
        await wait_for(pilot, lambda: panel.border_subtitle == expected, what=expected)
        assert trainer.schedule_text() == f"cosine {trainer.step_count}/1,000 steps"
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, what="the exit")
