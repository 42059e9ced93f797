"""Snapshot tests (pytest-textual-snapshot) of a seeded, paused dashboard at 80×24 and 120×40."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_tui_app import TEXT

from rnn_tui.engine import Config, Trainer
from rnn_tui.tui.app import make_app
from rnn_tui.tui.widgets import HiddenHeatmap, LossPlot

pytest.importorskip("pytest_textual_snapshot")

CONFIG = Config(
    hidden_size=32, seq_length=16, sample_every=50, sample_length=120, val_every=50, seed=0
)


def paused_app(tmp_path: Path, steps: int = 150):
    """A trainer stepped outside the app (no timing numbers), shown paused from the start."""
    trainer = Trainer(CONFIG, TEXT, corpus_name="small", checkpoint_path=tmp_path / "latest.npz")
    for _ in range(steps):
        trainer.train_step()
        if trainer.step_count % CONFIG.sample_every == 0:
            trainer.periodic_sample()
    return make_app(trainer, start_paused=True, corpus_lines=["small: 6,000 chars"])


async def settle(pilot) -> None:
    """Wait until the first snapshot has been drawn everywhere."""
    app = pilot.app
    deadline = time.monotonic() + 10
    while not (
        app.dashboard.snapshot is not None
        and app.dashboard.query_one(LossPlot).replots > 0
        and app.dashboard.query_one(HiddenHeatmap).redraws > 0
    ):
        assert time.monotonic() < deadline, "the dashboard never drew its first snapshot"
        await pilot.pause(0.02)
    await pilot.pause()


def test_paused_dashboard_at_120x40(snap_compare, tmp_path):
    assert snap_compare(paused_app(tmp_path), terminal_size=(120, 40), run_before=settle)


def test_paused_dashboard_at_80x24(snap_compare, tmp_path):
    assert snap_compare(paused_app(tmp_path), terminal_size=(80, 24), run_before=settle)


def test_sample_dialog_at_80x24(snap_compare, tmp_path):
    async def open_dialog(pilot) -> None:
        await settle(pilot)
        await pilot.press("g")
        await pilot.pause()

    assert snap_compare(paused_app(tmp_path), terminal_size=(80, 24), run_before=open_dialog)
