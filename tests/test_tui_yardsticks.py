"""Pilot tests of the yardsticks in the dashboard: the baselines' reference lines and status
verdict appear once the baselines are known (and their numbers are the engine's), the
gradient panel toggles and shows a row per parameter with the snapshot's own numbers, and the
sample panel says how much of the sample is copied."""

from __future__ import annotations

from test_tui_app import SIZE, new_app, new_trainer, status_text, wait_for

from rnn_tui.engine.events import BaselinesReady
from rnn_tui.engine.ngram import compute_baselines
from rnn_tui.engine.yardsticks import YardstickOptions
from rnn_tui.tui.messages import EventPosted
from rnn_tui.tui.widgets import LossPanel, LossPlot, SamplePanel, StatusPanel
from rnn_tui.tui.widgets.gradients import GradientPanel
from rnn_tui.tui.yardsticks import stands


def baselines_of(trainer, order: int = 5):
    """What the dashboard should draw: the trainer's split, as its validation pass scores it."""
    val = trainer.val_ids[: trainer.config.val_max_chars + 1]
    return compute_baselines(trainer.train_ids, val, len(trainer.vocab), order)


async def test_reference_lines_and_the_verdict_appear_once_the_baselines_are_ready(tmp_path):
    trainer = new_trainer(tmp_path)
    for _ in range(60):  # a validation pass at step 50
        trainer.train_step()
    app = new_app(trainer, tmp_path, start_paused=True, yardsticks=None)  # no workers: we post
    async with app.run_test(size=SIZE) as pilot:
        screen = app.dashboard
        await wait_for(pilot, lambda: screen.snapshot is not None, what="the first snapshot")
        await pilot.pause(0.1)
        plot = screen.query_one(LossPlot)
        assert plot.yardsticks == ()
        assert "beats" not in status_text(app, "val-more")
        replots = plot.replots
        baselines = baselines_of(trainer)
        screen.post_message(EventPosted(BaselinesReady(baselines, False, 0.1, 20_000)))
        await wait_for(pilot, lambda: plot.yardsticks != (), what="the reference lines")
        await pilot.pause(0.1)
        assert plot.yardsticks == tuple(baselines.yardsticks()[1:])  # uniform is the ln V line
        assert plot.replots > replots
        assert "baselines" in str(screen.query_one(LossPanel).border_subtitle)
        shown = status_text(app, "val-more")
        assert stands(baselines, trainer.val_loss, 40).split(" (")[0] in shown
        assert f"{baselines.beaten_by(trainer.val_loss)[-1]}" in shown
        # the lines are labelled where there is room: ln V, the unigram and some n-grams
        drawn = plot.render().plain
        assert "ln V" in drawn and "unigram" in drawn and "-gram" in drawn


async def test_the_workers_bring_the_baselines_and_the_novelty_into_the_dashboard(tmp_path):
    trainer = new_trainer(tmp_path)
    for _ in range(60):
        trainer.train_step()
    trainer.periodic_sample()
    app = new_app(trainer, tmp_path, start_paused=True, yardsticks=YardstickOptions(order=4))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.dashboard
        plot = screen.query_one(LossPlot)
        panel = screen.query_one(SamplePanel)
        await wait_for(pilot, lambda: plot.yardsticks and screen.measured, what="the yardsticks")
        await pilot.pause(0.1)
        assert plot.yardsticks == tuple(baselines_of(trainer, 4).yardsticks()[1:])
        assert screen.query_one(StatusPanel).baselines == baselines_of(trainer, 4)
        measured = screen.measured
        assert measured.step == panel.latest_step == trainer.step_count
        widget = panel.query_one("#sample-novelty")
        line = str(widget.render())
        assert line == measured.novelty.describe(measured.text, widget.size.width)
        assert line.startswith(f"longest copy {measured.novelty.longest_copy} char")


async def test_the_gradient_panel_toggles_and_shows_each_parameters_numbers(tmp_path):
    trainer = new_trainer(tmp_path)
    trainer.gradient_probe.interval, trainer.gradient_probe.budget = 0, None
    for _ in range(20):
        trainer.train_step()
    app = new_app(trainer, tmp_path, start_paused=True, yardsticks=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.dashboard
        panel = screen.query_one(GradientPanel)
        await wait_for(pilot, lambda: panel.health is not None, what="the gradient numbers")
        await pilot.pause(0.1)
        assert panel.display  # on by default at 120×40
        health = screen.snapshot.gradient_health
        assert health is trainer.gradient_health and health.step == 20
        text = str(panel.render())
        rows = {line.split()[0]: line for line in text.splitlines()[1:] if line.strip()}
        for i, name in enumerate(health.names):
            assert name in rows, name
            assert f"{health.grad_norms[i]:.3g}" in rows[name]
            assert f"{health.update_ratios[i]:.1e}" in rows[name] or "—" in rows[name]
        assert f"σ₁ {health.sigma['Whh']:.2f}" in text
        assert f"Gradients · step {health.step}" in str(panel.border_title)
        await pilot.press("h")
        await pilot.pause()
        assert not panel.display and not screen.has_class("-gradients")
        await pilot.press("h")
        await pilot.pause()
        assert panel.display


async def test_at_80x24_the_gradient_panel_starts_off_and_fits_when_on(tmp_path):
    trainer = new_trainer(tmp_path)
    trainer.train_step()
    app = new_app(trainer, tmp_path, start_paused=True, yardsticks=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.dashboard
        panel = screen.query_one(GradientPanel)
        await wait_for(pilot, lambda: screen.snapshot is not None, what="the first snapshot")
        assert not panel.display
        await pilot.press("h")
        await pilot.pause(0.2)
        assert panel.display and not screen.query_one(SamplePanel).display
        right = screen.query_one("#right")
        assert panel.region.bottom <= right.region.bottom  # inside the screen, not cut off
        assert panel.region.height >= len(trainer.params) + 3
        assert screen.query_one(LossPlot).region.height >= 3
