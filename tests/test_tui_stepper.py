"""Pilot tests of the step-through sampler screen: Enter draws exactly what `rnn-tui sample`
streams with the same seed and settings; 1-9 pick, typed characters force, Backspace undoes to
the exact previous state and candidates; +/- reshape the bars at once; and the sample dialog's
Step button opens it on a copy of the dashboard's weights."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from test_tui_microscope import TEXT

from rnn_tui.engine import Config, Trainer, load_model
from rnn_tui.tui.app import make_app
from rnn_tui.tui.cli import main as cli_main
from rnn_tui.tui.dialogs import SampleDialog
from rnn_tui.tui.screens.host import MicroscopeApp
from rnn_tui.tui.screens.passage_view import PassageView
from rnn_tui.tui.screens.stepper import StepperScreen

SIZE = (100, 30)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


async def wait_for(pilot, condition: Callable[[], bool], what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small trained lstm saved as rnn-tui saves it."""
    config = Config(cell="lstm", hidden_size=16, seq_length=16, sample_every=0, val_every=0)
    trainer = Trainer(config, TEXT)
    for _ in range(60):
        trainer.train_step()
    return trainer.save(tmp_path_factory.mktemp("stepper") / "model.npz")


def stepper(path, prime: str = "the ", **settings) -> tuple[MicroscopeApp, StepperScreen]:
    saved = load_model(path)
    screen = StepperScreen(saved.model, saved.params, saved.vocab, prime, **settings)
    return MicroscopeApp(screen), screen


def candidates_text(screen: StepperScreen) -> str:
    return str(screen.query_one("#step-candidates").render())


@pytest.mark.parametrize("temperature,top_k", [(1.0, 0), (0.7, 5)])
async def test_enter_draws_what_rnn_tui_sample_streams_with_the_same_seed(
    checkpoint, capsys, temperature, top_k
):
    length = 40
    settings = ["--temperature", str(temperature), "--top-k", str(top_k), "--seed", "7"]
    status = cli_main(
        ["sample", str(checkpoint), "--prime", "the ", "--length", str(length), *settings]
    )
    assert status == 0
    streamed = capsys.readouterr().out.rstrip("\n")
    app, screen = stepper(checkpoint, seed=7, temperature=temperature, top_k=top_k)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(length):
            await pilot.press("enter")
        await pilot.pause()
        assert screen.sampler.text == streamed
        assert screen.query_one(PassageView).text == streamed  # what the screen shows


async def test_force_then_undo_restores_state_and_candidates_exactly(checkpoint):
    app, screen = stepper(checkpoint, seed=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "enter")
        await pilot.pause()
        sampler = screen.sampler
        state, text, shown = sampler.state, sampler.text, candidates_text(screen)
        rng = sampler.rng.bit_generator.state
        await pilot.press("d")  # typed: forced, however unlikely
        await pilot.pause()
        assert sampler.text == text + "d" and sampler.steps[-1].how == "forced"
        assert "forced 'd'" in str(screen.query_one("#step-status").render())
        await pilot.press("backspace")
        await pilot.pause()
        assert sampler.text == text
        np.testing.assert_array_equal(sampler.state, state)
        assert sampler.rng.bit_generator.state == rng
        assert candidates_text(screen) == shown
        # a draw after the undo is the draw the stream would have made anyway
        await pilot.press("enter")
        twin_app, twin = stepper(checkpoint, seed=3)
        async with twin_app.run_test(size=SIZE) as twin_pilot:
            await twin_pilot.press("enter", "enter", "enter")
            await twin_pilot.pause()
            assert twin.sampler.text == sampler.text


async def test_digits_pick_candidates_and_a_backslash_forces_a_key_with_a_job(checkpoint):
    app, screen = stepper(checkpoint, prime="Gregor")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sampler = screen.sampler
        second = sampler.candidates(10)[1]
        await pilot.press("2")
        await pilot.pause()
        assert sampler.steps[-1].how == "picked" and sampler.steps[-1].char == second.char
        assert sampler.text.endswith(second.char)
        await pilot.press("backslash", "enter")  # a newline, forced
        await pilot.pause()
        assert sampler.text.endswith("\n") and sampler.steps[-1].how == "forced"
        await pilot.press("Z")  # not in this vocabulary: refused with a reason, nothing added
        await pilot.pause()
        assert "'Z' is not in the vocabulary" in str(screen.query_one("#step-status").render())
        assert sampler.text.endswith("\n")


async def test_plus_and_minus_reshape_the_bars_at_once(checkpoint):
    app, screen = stepper(checkpoint, temperature=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sampler = screen.sampler
        logits, state = sampler.logits, sampler.state
        await pilot.press("plus", "plus", "plus")
        await pilot.pause()
        assert sampler.temperature == pytest.approx(1.3)
        np.testing.assert_array_equal(sampler.state, state)  # the state is untouched
        expected = softmax(logits / 1.3)
        shown = candidates_text(screen)
        assert "(T 1.30)" in shown
        for c in sampler.candidates(10):
            assert c.prob == pytest.approx(expected[c.id], abs=1e-12)
            assert f"{100 * expected[c.id]:5.1f}%" in shown
        for _ in range(20):
            await pilot.press("minus")
        assert sampler.temperature == pytest.approx(0.1)  # the floor: never 0 or below


async def test_the_sample_dialogs_step_button_opens_the_sampler_on_a_weights_copy(tmp_path):
    config = Config(hidden_size=16, seq_length=16, sample_every=0, val_every=0, seed=4)
    trainer = Trainer(config, TEXT, checkpoint_path=tmp_path / "run" / "latest.npz")
    for _ in range(20):
        trainer.train_step()
    app = make_app(trainer, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.dashboard.snapshot is not None, "the first snapshot")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SampleDialog), "the dialog")
        app.screen.query_one("#sample-seed").value = "the cat"
        app.screen.query_one("#sample-temperature").value = "0.5"
        await pilot.click("#sample-step")
        await wait_for(pilot, lambda: isinstance(app.screen, StepperScreen), "the sampler")
        screen = app.screen
        assert screen.sampler.prime == "the cat" and screen.sampler.temperature == 0.5
        for name, value in screen.sampler.params.items():
            np.testing.assert_array_equal(value, trainer.params[name])
        await pilot.press("enter", "enter")
        await pilot.pause()
        assert len(screen.sampler.steps) == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SampleDialog), "back to the dialog")
        await pilot.press("escape")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to exit")
    assert trainer.step_count == 20  # paused all along
