"""Snapshots (pytest-textual-snapshot) of the microscope's screens at 80×24 and 120×40: the
neuron view with a marked span, the finder's table, and the step-through sampler after a few
steps, all on seeded models (no timings on screen)."""

from __future__ import annotations

import time

import pytest
from test_tui_microscope import subject_of

from rnn_tui.tui.screens.finder import FinderScreen
from rnn_tui.tui.screens.host import MicroscopeApp
from rnn_tui.tui.screens.neuron import NeuronScreen
from rnn_tui.tui.screens.stepper import StepperScreen

pytest.importorskip("pytest_textual_snapshot")

SIZES = [(80, 24), (120, 40)]


async def until(pilot, condition, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        await pilot.pause(0.02)
    await pilot.pause()


def neuron_app() -> MicroscopeApp:
    _, subject = subject_of("lstm", hidden=8)
    return MicroscopeApp(NeuronScreen(subject))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_neuron_view(snap_compare, size):
    async def mark(pilot) -> None:
        screen = pilot.app.screen
        await until(pilot, lambda: screen.traced_at is not None, "the trace")
        await pilot.press("down", "down", "right", "right", "right", "shift+right", "shift+right")
        await until(pilot, lambda: not screen.painting, "the last repaint")  # keys coalesce
        await pilot.pause()

    assert snap_compare(neuron_app(), terminal_size=size, run_before=mark)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_finder_table(snap_compare, size):
    async def find(pilot) -> None:
        screen = pilot.app.screen
        await until(pilot, lambda: screen.traced_at is not None, "the trace")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, FinderScreen), "the finder")
        await until(pilot, lambda: pilot.app.screen.done, "the ranking")

    assert snap_compare(neuron_app(), terminal_size=size, run_before=find)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_step_through_sampler(snap_compare, size):
    _, subject = subject_of("gru", layers=1, hidden=8)
    screen = StepperScreen(
        subject.model, subject.params, subject.vocab, "Gregor ", seed=5, describe=subject.describe
    )

    async def steps(pilot) -> None:
        await pilot.press("enter", "enter", "1", "t", "enter", "plus")
        await pilot.pause()

    assert snap_compare(MicroscopeApp(screen), terminal_size=size, run_before=steps)
