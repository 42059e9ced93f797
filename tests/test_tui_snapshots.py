"""Snapshot tests (pytest-textual-snapshot) of a seeded, paused dashboard at 80×24 and 120×40,
under NO_COLOR and as a 256-colour terminal shows it."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from test_tui_app import TEXT
from textual.app import App
from textual.color import Color as TextualColor

from rnn_tui.engine import Config, Trainer
from rnn_tui.tui.app import make_app
from rnn_tui.tui.widgets import HiddenHeatmap, LossPlot
from rnn_tui.tui.widgets.heatmap import LEVELS, diverging_palette

pytest.importorskip("pytest_textual_snapshot")

CONFIG = Config(
    hidden_size=32, seq_length=16, sample_every=50, sample_length=120, val_every=50, seed=0
)


def paused_app(tmp_path: Path, steps: int = 150):
    """A trainer stepped outside the app (no timing numbers), shown paused from the start."""
    trainer = Trainer(CONFIG, TEXT, corpus_name="small", checkpoint_path=tmp_path / "latest.npz")
    # gradient health at every step: the same numbers however fast the machine
    trainer.gradient_probe.interval = 0
    trainer.gradient_probe.budget = None
    for _ in range(steps):
        trainer.train_step()
        if trainer.step_count % CONFIG.sample_every == 0:
            trainer.periodic_sample()
    return make_app(trainer, start_paused=True, corpus_lines=["small: 6,000 chars"])


async def settle(pilot) -> None:
    """Wait until the first snapshot has been drawn everywhere, with the baselines on the chart
    and the sample's novelty measured (the yardstick workers run in the background)."""
    app = pilot.app
    deadline = time.monotonic() + 10
    while not (
        app.dashboard.snapshot is not None
        and app.dashboard.query_one(LossPlot).replots > 0
        and app.dashboard.query_one(HiddenHeatmap).redraws > 0
        and app.dashboard.query_one(LossPlot).yardsticks
        and app.dashboard.measured is not None
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


# -- NO_COLOR and 256 colours (README: "correct with 256 colours and `NO_COLOR`") ---------------


def test_paused_dashboard_under_no_color_at_120x40(snap_compare, tmp_path, monkeypatch):
    """NO_COLOR (no-color.org): Textual's monochrome filter on every panel, and the heatmap's
    ASCII ramp with one unit per row (its colours alone would say nothing)."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = paused_app(tmp_path)  # Textual reads NO_COLOR when the app is made
    assert app.no_color
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


SVG_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\b")
WINDOW_CHROME = {"#292929", "#ff5f57", "#febc2e", "#28c840"}  # Rich's frame, not the terminal's


@functools.cache
def as_256_colours(hex_colour: str) -> str:
    """The colour a 256-colour terminal shows for this one: Rich's own downgrade when it writes
    to such a terminal, then the xterm palette's value for the index it picks."""
    if hex_colour.lower() in WINDOW_CHROME:
        return hex_colour
    return RichColor.parse(hex_colour).downgrade(ColorSystem.EIGHT_BIT).get_truecolor().hex


def in_256_colours(export):
    """Wrap App.export_screenshot (always truecolor) to draw what a 256-colour terminal shows."""

    def export_256(*args, **kwargs) -> str:
        return SVG_COLOUR.sub(lambda m: as_256_colours(m[0]), export(*args, **kwargs))

    return export_256


def test_textual_writes_256_colours_to_an_xterm_256color_terminal(monkeypatch):
    """The premise of the next snapshot: TERM=xterm-256color without COLORTERM is 256 colours."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert App().console.color_system == "256"
    assert as_256_colours("#0178d4") == "#0087d7"  # (Textual's primary blue, palette index 32)


def test_the_heatmap_levels_stay_distinct_and_diverging_in_256_colours(tmp_path):
    theme = paused_app(tmp_path).theme_variables
    palette = diverging_palette(
        *(TextualColor.parse(theme[name]) for name in ("primary", "surface", "error"))
    )
    shown = [RichColor.parse(as_256_colours(c.hex)).get_truecolor() for c in palette]
    assert len(set(shown)) == LEVELS, shown
    middle = LEVELS // 2
    assert all(c.blue >= c.red for c in shown[:middle]), shown  # -1 .. 0: the primary's side
    assert all(c.red >= c.blue for c in shown[middle + 1 :]), shown  # 0 .. +1: the error's side


def test_paused_dashboard_in_256_colours_at_120x40(snap_compare, tmp_path):
    app = paused_app(tmp_path)
    app.export_screenshot = in_256_colours(app.export_screenshot)
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


async def test_lines_cut_to_their_width_are_cut_again_when_the_terminal_resizes(tmp_path):
    """The verdict under the validation loss is cut to its width: after a resize it must be
    what the new width gives, not what the old one (or none, before the layout) gave."""
    from rnn_tui.tui.widgets.status import val_more_text

    app = paused_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        status = app.dashboard.query_one("StatusPanel")
        wide = str(status.query_one("#status-val-more").render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        line = status.query_one("#status-val-more")
        assert str(line.render()) == str(
            val_more_text(status.val_loss, status.baselines, line.size.width)
        )
        assert str(line.render()) != wide
