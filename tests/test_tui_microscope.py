"""Pilot tests of the neuron view and the cell finder: what the screens show equals the model's
own forward pass, keys do what the help says, the finder's rows are the engine's ranking, and a
cursor move repaints only the rows it changed.

The reference numbers come from `CharModel.step`, one character at a time (the sampler's path,
not the probe's batched one), warmed on the same text before the passage, and a softmax written
here; the screen's numbers are read back from its readout (the rendered text, not only the
values behind it) and its passage widget (the level of every character).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rnn_tui.engine import CharModel, Config, Trainer
from rnn_tui.engine.finder import find_cells, rank_span
from rnn_tui.tui.app import make_app
from rnn_tui.tui.neuron_render import levels
from rnn_tui.tui.screens.finder import FinderScreen
from rnn_tui.tui.screens.host import MicroscopeApp
from rnn_tui.tui.screens.neuron import RECOLOUR_SECONDS, REPAINT_SECONDS, NeuronScreen
from rnn_tui.tui.screens.passage_dialog import PassageDialog
from rnn_tui.tui.screens.passage_view import PassageView
from rnn_tui.tui.screens.readout import Readout
from rnn_tui.tui.screens.subject import ProbeSubject
from rnn_tui.tui.widgets.heatmap import RAMP

SIZE = (120, 40)
WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "to", "the", "old")
WORDS += ("red", "door", "while", "Gregor", "slept")


def quoted_text(chars: int, seed: int = 0) -> str:
    """Made-up prose with quotes, brackets and short lines: something for every feature."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < chars:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        if rng.random() < 0.3:
            words = f'"{words.capitalize()}," he said'
        if rng.random() < 0.15:
            words += f" (at {rng.randint(1, 99)})"
        parts.append(words + (".\n" if rng.random() < 0.3 else ". "))
    return "".join(parts)


TEXT = quoted_text(9000)


def subject_of(cell: str, layers: int = 2, hidden: int = 6) -> tuple[Trainer, ProbeSubject]:
    """A freshly initialised model with weights large enough that every unit moves, as the
    dashboard would hand it over (the run's own weights copy)."""
    config = Config(
        cell=cell,
        hidden_size=hidden,
        num_layers=layers,
        init_scale=0.5,
        seq_length=16,
        sample_every=0,
        val_every=0,
        seed=1,
    )
    trainer = Trainer(config, TEXT)
    return trainer, ProbeSubject.from_weights(trainer.weights_copy("test"))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def reference(model: CharModel, params, vocab, text: str, warmup: str, after: str | None):
    """Per position: every layer's h (and c) after reading text[t], and the softmax of the
    logits (the distribution of the next character), by model.step one character at a time."""
    state = model.initial_state(1)
    for ch in warmup:
        _, state = model.step(params, np.array([vocab.index[ch]]), state)
    L, S, H = model.num_layers, model.state_slots, model.hidden_size
    states = np.empty((len(text), L, S, H))
    probs = np.empty((len(text), len(vocab)))
    for t, ch in enumerate(text):
        logits, state = model.step(params, np.array([vocab.index[ch]]), state)
        states[t] = state[:, :, 0]
        probs[t] = softmax(logits[0])
    nxt = [vocab.index[c] for c in text[1:]] + ([vocab.index[after]] if after else [])
    loss = -np.log(probs[np.arange(len(nxt)), nxt])
    return states, probs, loss


async def wait_for(pilot, condition: Callable[[], bool], what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def traced(pilot, screen: NeuronScreen) -> None:
    """Until the whole passage is traced (the view shows its first FIRST_CHARS before that)."""
    await wait_for(pilot, lambda: screen.traced_at is not None, "the trace")
    await pilot.pause()


def readout_text(screen: NeuronScreen) -> str:
    return screen.query_one(Readout).text


async def open_finder(pilot, screen: NeuronScreen) -> FinderScreen:
    """`f` on the neuron view, until the finder screen is up (its search may still run)."""
    await pilot.press("f")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FinderScreen), "the finder")
    return pilot.app.screen


async def drawn(pilot, screen: NeuronScreen) -> None:
    """Until the view has drawn its latest state (keys in quick succession repaint at most
    every REPAINT_SECONDS, the last state always)."""
    await wait_for(pilot, lambda: not screen.painting, "the repaint")
    await pilot.pause()


def check_readout(screen: NeuronScreen, states, probs, loss, signal_slot: int) -> None:
    """The readout at the cursor equals the reference: the unit's value, the probability and
    loss of the next character, and the top five guesses with their percentages."""
    t, unit, layer = screen.cursor, screen.unit, screen.layer_index
    vocab = screen.subject.vocab
    reading = screen.query_one(Readout).reading
    expected = states[t, layer, signal_slot, unit]
    assert reading.position == t
    assert reading.value == pytest.approx(expected, abs=2e-5)
    shown = readout_text(screen)
    # every line of it fits on screen (a panel too short shows only its first lines)
    assert screen.query_one(Readout).size.height >= len(shown.splitlines())
    assert f"{expected:+.4f}" in shown
    order = np.argsort(-probs[t], kind="stable")[:5]
    assert [c for c, _ in reading.guesses] == [vocab.chars[i] for i in order]
    np.testing.assert_allclose([p for _, p in reading.guesses], probs[t, order], atol=2e-6)
    for i in order:
        assert f"{100 * probs[t, i]:5.1f}%" in shown
    if t < len(loss):
        assert reading.next_loss == pytest.approx(loss[t], abs=2e-5)
        assert reading.next_prob == pytest.approx(np.exp(-loss[t]), abs=2e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
async def test_the_neuron_view_shows_the_models_own_numbers(cell):
    trainer, subject = subject_of(cell)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        passage = subject.passage
        text, after = passage.view()
        assert screen.text == text and len(text) == min(2000, len(passage.text))
        states, probs, loss = reference(
            subject.model, trainer.params, subject.vocab, text, passage.warmup, after
        )
        view = screen.query_one(PassageView)
        # every character's colour is the level of h[unit 0] of layer 0 in the reference
        assert view.levels == levels(states[:, 0, 0, 0]).tolist()
        check_readout(screen, states, probs, loss, 0)
        for key, count in (("right", 7), ("end", 1), ("home", 1), ("pagedown", 1)):
            for _ in range(count):
                await pilot.press(key)
            await drawn(pilot, screen)
            check_readout(screen, states, probs, loss, 0)
        await pilot.press("down", "down", "l")  # unit 2 of layer 1
        await drawn(pilot, screen)
        assert (screen.layer_index, screen.unit) == (1, 2)
        assert view.levels == levels(states[:, 1, 0, 2]).tolist()
        check_readout(screen, states, probs, loss, 0)
        if cell == "lstm":
            await pilot.press("s")  # the memory c, each cell scaled by its own robust maximum
            await drawn(pilot, screen)
            assert screen.signal_name == "c"
            check_readout(screen, states, probs, loss, 1)
            for unit in (2, 3):
                c = states[:, 1, 1, unit]
                scale = np.quantile(np.abs(c), 0.99)
                assert screen.scale() == pytest.approx(scale, rel=1e-12)
                assert view.levels == levels(np.clip(c / scale, -1, 1)).tolist()
                await pilot.press("down")
                await drawn(pilot, screen)
            await pilot.press("up")
            await drawn(pilot, screen)
        # surprise: each character coloured by the model's loss on it (the first: nothing)
        await pilot.press("e")
        await drawn(pilot, screen)
        expected = levels(np.concatenate(([np.nan], loss[: len(text) - 1])), "surprise")
        assert view.kind == "surprise" and view.levels == expected.tolist()


async def test_held_keys_repaint_at_most_every_interval_and_the_last_state_is_drawn():
    """Holding → or ↓ (key repeat) repaints ten times a second and recolours less often, not
    once per repeat, and what is drawn in the end is where the keys left the cursor and the
    unit; one key after a pause is drawn at once."""
    _trainer, subject = subject_of("gru", hidden=12)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        await drawn(pilot, screen)
        paints: list[float] = []
        recolours: list[float] = []
        paint_now, recolour = screen._paint_now, screen._recolour

        def counted() -> None:
            paints.append(time.monotonic())
            paint_now()

        def counted_recolour() -> None:
            recolours.append(time.monotonic())
            recolour()

        screen._paint_now, screen._recolour = counted, counted_recolour
        started = time.monotonic()
        await pilot.press(*["right"] * 30, *["down"] * 10)
        pressed = time.monotonic() - started
        await drawn(pilot, screen)
        assert (screen.cursor, screen.unit) == (30, 10)
        view = screen.query_one(PassageView)
        assert view.cursor == 30 and screen.query_one(Readout).reading.position == 30
        h = screen.trace.signal(0, "h")[:, 10]
        assert view.levels == levels(np.clip(h, -1, 1)).tolist()
        assert 1 <= len(paints) <= pressed / REPAINT_SECONDS + 2 < 40
        assert all(gap >= 0.9 * REPAINT_SECONDS for gap in np.diff(paints))
        assert 1 <= len(recolours) < 10  # ten unit changes, recoloured at most every interval
        assert all(gap >= 0.9 * RECOLOUR_SECONDS for gap in np.diff(recolours))
        await pilot.pause(2 * REPAINT_SECONDS)
        await pilot.press("left")  # drawn while the key is handled, no timer
        assert not screen.painting
        assert screen.query_one(Readout).reading.position == view.cursor == 29


async def test_a_finder_whose_child_process_dies_says_so(monkeypatch):
    from rnn_tui.engine.offload import BackgroundProcessError
    from rnn_tui.tui.screens import finder as finder_module

    def dies(*args, **kwargs):
        raise BackgroundProcessError("the background computation ended without a result (-9)")

    monkeypatch.setattr(finder_module, "run_in_background_process", dies)
    _trainer, subject = subject_of("rnn")
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        status = (await open_finder(pilot, screen)).query_one("#finder-status")
        await wait_for(pilot, lambda: "the search stopped" in str(status.render()), "the error")
        assert "(-9)" in str(status.render()) and not app.screen.done


@pytest.mark.parametrize("cell,dtype", [("lstm", "float64"), ("gru", "float32")])
def test_a_passage_traced_in_two_parts_equals_one_trace(cell, dtype):
    """The view traces its first FIRST_CHARS, shows them, then the rest from that state."""
    from rnn_tui.engine.probe import trace
    from rnn_tui.tui.screens.subject import join_traces

    config = Config(cell=cell, hidden_size=5, num_layers=2, dtype=dtype, init_scale=0.5)
    model = CharModel(config, 9)
    params = model.init_params(np.random.default_rng(3))
    ids = np.random.default_rng(4).integers(0, 9, 300)
    warm = np.random.default_rng(5).integers(0, 9, 40)
    whole = trace(model, params, ids, warm, next_id=2)
    head = trace(model, params, ids[:120], warm, next_id=int(ids[120]))
    joined = join_traces(head, trace(model, params, ids[120:], state=head.final_state, next_id=2))
    tol = 1e-12 if dtype == "float64" else 2e-6
    assert set(joined.signals) == set(whole.signals)
    for key, value in whole.signals.items():
        np.testing.assert_allclose(joined.signals[key], value, rtol=0, atol=tol)
        assert not joined.signals[key].flags.writeable
    np.testing.assert_allclose(joined.probs, whole.probs, rtol=0, atol=tol)
    np.testing.assert_allclose(joined.loss, whole.loss, rtol=1e-6, atol=tol)
    np.testing.assert_array_equal(joined.ids, ids)
    np.testing.assert_allclose(joined.final_state, whole.final_state, rtol=0, atol=tol)


async def test_a_cursor_move_repaints_only_the_rows_it_touches():
    _, subject = subject_of("lstm")
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        view = screen.query_one(PassageView)
        await pilot.pause(0.1)
        view.lines_rendered = 0
        await pilot.press("right")  # position 0 -> 1, the same row
        await pilot.pause(0.1)
        assert view.lines_rendered == 1
        screen.action_move(view.rows[0][-1] - 1)  # to the last character of the first row
        await pilot.pause(0.1)
        view.lines_rendered = 0
        await pilot.press("right")  # onto the second row: two rows change
        await pilot.pause(0.1)
        assert view.lines_rendered == 2
        view.lines_rendered = 0
        await pilot.press("down")  # another unit: every row on screen is recoloured
        await pilot.pause(0.1)
        assert view.lines_rendered >= min(len(view.rows), view.size.height) > 2


async def test_the_readout_always_has_room_for_a_whole_reading():
    """Readings repaint without a layout pass, so the panel must not size itself to what it
    showed last: after a one-line message and a relayout, a reading still shows every line."""
    _, subject = subject_of("rnn", layers=1)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        readout = screen.query_one(Readout)
        readout.show(None, "one line")
        await pilot.resize_terminal(100, 30)  # a layout pass while it holds one line
        await pilot.pause()
        await pilot.press("right")
        await pilot.pause()
        lines = readout_text(screen).splitlines()
        assert len(lines) == 10 and all(line.size.height == 1 for line in readout.children)
        assert readout.size.height >= len(lines)


async def test_typed_unit_number_and_wrap_around():
    _, subject = subject_of("gru", layers=1, hidden=12)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        await pilot.press("1", "1")
        await pilot.pause()
        assert "go to unit 11" in str(screen.query_one("#neuron-status").render())
        await pilot.press("enter")
        await pilot.pause()
        assert screen.unit == 11
        await pilot.press("down")  # past the last unit: back to 0
        assert screen.unit == 0
        await pilot.press("9", "9", "enter")
        await pilot.pause()
        assert screen.unit == 0
        assert "there is no unit 99" in str(screen.query_one("#neuron-status").render())


async def test_finder_rows_are_the_engines_ranking_and_enter_opens_that_unit():
    trainer, subject = subject_of("lstm", hidden=5)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        finder = await open_finder(pilot, screen)
        await wait_for(pilot, lambda: finder.done, "the finder's result")
        passage = subject.passage
        from rnn_tui.engine.probe import trace

        expected = find_cells(
            trace(
                subject.model,
                trainer.params,
                subject.encode(passage.text),
                subject.encode(passage.warmup),
                keep=("h", "c"),
            ),
            passage.text,
            top=200,
        )
        assert [(m.layer, m.signal, m.unit, m.feature) for m in finder.matches] == [
            (m.layer, m.signal, m.unit, m.feature) for m in expected
        ]
        np.testing.assert_allclose([m.r for m in finder.matches], [m.r for m in expected])
        table = finder.query_one("DataTable")
        assert table.row_count == len(expected)
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[1:4] == [str(expected[0].layer), expected[0].signal, str(expected[0].unit)]
        assert first[5] == f"{expected[0].r:+.3f}"
        await pilot.press("down", "down", "enter")  # the third row
        await wait_for(pilot, lambda: app.screen is screen, "the neuron view again")
        chosen = expected[2]
        assert (screen.layer_index, screen.signal_name, screen.unit) == (
            chosen.layer,
            chosen.signal,
            chosen.unit,
        )
        # reopening is instant: the ranking is kept for this copy of the weights
        reopened = await open_finder(pilot, screen)
        assert reopened.done and reopened.matches == finder.matches
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the neuron view again")


async def test_a_marked_span_ranks_units_as_rank_span_does():
    _, subject = subject_of("rnn", layers=1, hidden=8)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        await pilot.press("right", "right", "shift+right", "shift+right", "shift+right")
        await pilot.pause()
        assert screen.span == (2, 6)
        assert screen.query_one(PassageView).span == (2, 6)
        assert "marked 2–5" in str(screen.query_one("#neuron-status").render())
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, FinderScreen), "the span ranking")
        finder = app.screen
        await wait_for(pilot, lambda: finder.done, "the ranking")
        expected = rank_span(screen.trace, screen.text, 2, 6, top=200)
        assert [(m.layer, m.signal, m.unit) for m in finder.matches] == [
            (m.layer, m.signal, m.unit) for m in expected
        ]
        np.testing.assert_allclose([m.r for m in finder.matches], [m.r for m in expected])
        await pilot.press("m")  # the same character pattern instead of the same text
        await wait_for(pilot, lambda: finder.done and finder.match == "pattern", "pattern")
        expected = rank_span(screen.trace, screen.text, 2, 6, match="pattern", top=200)
        np.testing.assert_allclose([m.r for m in finder.matches], [m.r for m in expected])
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "the neuron view again")
        assert screen.unit == expected[0].unit
        await pilot.press("escape")  # clears the mark first
        assert screen.span is None and app.screen is screen


async def test_another_passage_typed_in_or_refused_with_a_reason():
    trainer, subject = subject_of("rnn", layers=1)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PassageDialog), "the dialog")
        dialog = app.screen
        dialog.query_one("#passage-typed").text = "the cat sat ∑"
        await pilot.pause()
        await pilot.click("#passage-use-typed")
        await pilot.pause()
        assert "'∑' is not in the vocabulary" in str(dialog.query_one("#passage-error").render())
        dialog.query_one("#passage-typed").text = '"the cat," he said.'
        button = dialog.query_one("#passage-use-typed")
        # a button ignores presses while it still shows the last one (0.2 s)
        await wait_for(pilot, lambda: not button.has_class("-active"), "the button to settle")
        await pilot.click("#passage-use-typed")
        await wait_for(pilot, lambda: screen.text == '"the cat," he said.', "the typed passage")
        assert screen.passage.name == "typed text" and screen.passage.warmup == ""
        states, probs, loss = reference(
            subject.model, trainer.params, subject.vocab, screen.text, "", None
        )
        check_readout(screen, states, probs, loss, 0)
        assert "end of the passage" not in readout_text(screen)
        await pilot.press("end")
        assert "end of the passage" in readout_text(screen)


async def test_no_color_draws_a_ramp_row_under_each_text_row(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    _, subject = subject_of("rnn", layers=1)
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    assert app.no_color
    async with app.run_test(size=SIZE) as pilot:
        await traced(pilot, screen)
        view = screen.query_one(PassageView)
        row = view.rows[0]
        text_line = view.render_line(0).text
        ramp_line = view.render_line(1).text
        marks = {" ": "·", "\n": "⏎"}  # space and newline made visible, as in the heatmap
        assert text_line.startswith("".join(marks.get(screen.text[p], screen.text[p]) for p in row))
        assert ramp_line.rstrip() == "".join(RAMP[view.levels[p]] for p in row).rstrip()


async def test_i_on_the_dashboard_opens_the_view_on_a_copy_while_training_goes_on(tmp_path: Path):
    config = Config(hidden_size=16, seq_length=16, sample_every=40, val_every=0, seed=2)
    trainer = Trainer(config, TEXT, checkpoint_path=tmp_path / "run" / "latest.npz")
    app = make_app(trainer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: trainer.step_count > 10, "training to start")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, NeuronScreen), "the neuron view")
        screen = app.screen
        await traced(pilot, screen)
        copied_at = screen.subject.step
        assert copied_at > 10
        before = trainer.step_count
        await wait_for(pilot, lambda: trainer.step_count > before + 5, "training to go on")
        # the view's parameters are the weights at the step they were copied, not the live ones
        twin = Trainer(config, TEXT)
        for _ in range(copied_at):
            twin.train_step()
        for name, value in screen.subject.params.items():
            np.testing.assert_array_equal(value, twin.params[name])
            assert not value.flags.writeable
        # w: a fresh copy, from a later step
        await pilot.press("w")
        await wait_for(
            pilot,
            lambda: screen.subject.step > copied_at and screen.text and not screen._shown_partial,
            "a fresh copy, traced",
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.dashboard, "the dashboard")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to exit")
