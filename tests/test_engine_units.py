"""Unit tests of the engine's small parts: vocabulary, streams, optimisers, clipping, sampler, metrics."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_tui.engine import Config, Vocab, VocabError
from rnn_tui.engine.flat import flat_views
from rnn_tui.engine.metrics import (
    CurveHistory,
    SmoothedLoss,
    Throughput,
    nats_to_bits,
    perplexity,
    uniform_loss,
)
from rnn_tui.engine.model import CharModel
from rnn_tui.engine.optim import (
    SGD,
    Adagrad,
    Adam,
    clip_by_global_norm,
    clip_by_value,
    global_norm,
    learning_rate_at,
    make_optimizer,
)
from rnn_tui.engine.sampler import check_prime, generate, pick, sample_text
from rnn_tui.engine.streams import CharStreams, StreamError, split_ids, validation_loss

REPO_ROOT = Path(__file__).resolve().parents[1]

# -- Vocab ----------------------------------------------------------------------------------------


def test_vocab_is_sorted_and_independent_of_text_order():
    a = Vocab.from_text("hello world")
    b = Vocab.from_text("dlrow olleh")
    assert a.chars == (" ", "d", "e", "h", "l", "o", "r", "w")
    assert a == b and hash(a) == hash(b)
    assert len(a) == 8 and "h" in a and "z" not in a
    assert a.index["h"] == 3


def test_vocab_encode_decode_round_trip():
    text = "hello world\nhello"
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.uint8
    assert ids.tolist() == [vocab.chars.index(c) for c in text]
    assert vocab.decode(ids) == text
    assert vocab.decode([]) == ""


def test_vocab_unknown_character_error_lists_the_vocabulary():
    vocab = Vocab.from_text("ab \n")
    with pytest.raises(VocabError) as info:
        vocab.encode("abc")
    message = str(info.value)
    assert "'c'" in message and "is not" in message
    assert vocab.printable() in message
    assert "\\n" in vocab.printable() and "\u2420" in vocab.printable()  # whitespace made visible
    with pytest.raises(VocabError, match="characters 'x', 'y' are not"):
        vocab.encode("xy")


def test_vocab_round_trips_through_the_json_list_checkpoints_store():
    vocab = Vocab.from_text('the "quoted" \\ text\t\u00e9')
    stored = json.dumps(list(vocab.chars))  # as checkpoint metadata holds it
    assert Vocab(json.loads(stored)) == vocab
    with pytest.raises(VocabError):
        Vocab(["ab"])


def test_vocab_handles_unicode_beyond_the_basic_plane():
    text = "a\U0001f600b\U0001d11e a\U0001f600"  # emoji and musical G clef: one code point each
    vocab = Vocab.from_text(text)
    assert len(vocab) == 5
    assert "\U0001f600" in vocab
    ids = vocab.encode(text)
    assert len(ids) == len(text)
    assert vocab.decode(ids) == text
    assert Vocab(json.loads(json.dumps(list(vocab.chars)))) == vocab


def test_vocab_id_dtype_grows_with_size():
    big = Vocab(chr(0x100 + i) for i in range(300))
    assert big.dtype == np.uint16
    text = "".join(big.chars[::-7])
    assert big.decode(big.encode(text)) == text


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_vocab_round_trips_any_text(text):
    vocab = Vocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert list(vocab.chars) == sorted(set(text))
    assert Vocab(list(vocab.chars)) == vocab


# -- CharStreams ----------------------------------------------------------------------------------


def test_single_stream_follows_the_classic_data_pointer():
    ids = np.arange(101)  # the window at 90 would end on the last id: the classic `>=` wraps there
    streams = CharStreams(ids, batch_size=1, seq_length=10)
    p, first = 0, True
    for _ in range(25):
        inputs, targets, wrapped = streams.next_window()
        expect_wrap = first or p + 10 + 1 >= len(ids)
        if p + 10 + 1 >= len(ids):
            p = 0
        assert wrapped == expect_wrap
        assert inputs.shape == targets.shape == (10, 1)
        assert inputs[:, 0].tolist() == list(range(p, p + 10))
        assert targets[:, 0].tolist() == list(range(p + 1, p + 11))  # shifted by one
        p += 10
        first = False
    assert streams.epoch == 2  # wrapped after 10 windows, twice in 25


def test_batched_streams_read_their_own_segments():
    ids = np.arange(100)
    streams = CharStreams(ids, batch_size=4, seq_length=5)
    assert streams.segment == 25
    seen_wraps = []
    for _ in range(12):
        inputs, targets, wrapped = streams.next_window()
        assert inputs.shape == (5, 4)
        seen_wraps.append(wrapped)
        np.testing.assert_array_equal(targets[:-1], inputs[1:])
        np.testing.assert_array_equal(targets, inputs + 1)
        for b in range(4):
            assert inputs[0, b] - 25 * b == inputs[0, 0]  # lockstep offsets
            assert 25 * b <= inputs[:, b].min() and targets[:, b].max() < 25 * (b + 1)
    # offsets 0, 5, 10, 15 fit (15 + 6 < 25); 20 wraps
    assert seen_wraps == [True, False, False, False] * 3
    assert streams.epoch == 2


def test_stream_state_round_trip_continues_identically():
    ids = np.random.default_rng(0).integers(0, 9, size=500)
    a = CharStreams(ids, 3, 7)
    for _ in range(9):
        a.next_window()
    b = CharStreams(ids, 3, 7)
    b.load_state_dict(a.state_dict())
    for _ in range(30):
        wa, wb = a.next_window(), b.next_window()
        assert np.array_equal(wa[0], wb[0]) and np.array_equal(wa[1], wb[1]) and wa[2] == wb[2]
    assert a.epoch == b.epoch and 0.0 <= a.progress <= 1.0
    with pytest.raises(StreamError):
        b.load_state_dict({"offset": 10**6, "epoch": 0, "started": 1})


def test_too_short_text_for_the_batch_is_a_clear_error():
    with pytest.raises(StreamError, match="too few"):
        CharStreams(np.arange(50), batch_size=4, seq_length=20)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(30, 400),
    batch=st.integers(1, 4),
    T=st.integers(1, 12),
    windows=st.integers(1, 40),
)
def test_windows_never_leave_their_segment(n, batch, T, windows):
    ids = np.arange(n)
    try:
        streams = CharStreams(ids, batch, T)
    except StreamError:
        assert n // batch < T + 2
        return
    for _ in range(windows):
        inputs, targets, _ = streams.next_window()
        np.testing.assert_array_equal(targets, inputs + 1)
        seg = streams.segment
        for b in range(batch):
            assert b * seg <= inputs[:, b].min() and targets[:, b].max() < (b + 1) * seg


def test_split_ids_holds_out_the_tail():
    ids = np.arange(100)
    train, val = split_ids(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    train, val = split_ids(ids, 0.0)
    assert len(train) == 100 and len(val) == 0


def test_validation_loss_carries_state_across_chunks():
    model = CharModel(Config(hidden_size=8, init_scale=0.5), 5)
    params = model.init_params(np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 5, size=301)
    one_pass, _ = model.loss(params, ids[:-1, None], ids[1:, None], model.initial_state(1))
    chunked = validation_loss(model, params, ids, streams=1, chunk=7)
    assert chunked == pytest.approx(one_pass / 300, rel=1e-12)
    assert math.isnan(validation_loss(model, params, ids[:1]))


# -- optimisers and clipping ----------------------------------------------------------------------


def _flat(values: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The arrays copied into one flat buffer (as the Trainer lays out parameters and grads)."""
    buffer, views = flat_views({k: v.shape for k, v in values.items()}, np.float64)
    for k, v in values.items():
        views[k][...] = v
    return buffer, views


def _tiny():
    params = {"w": np.array([[1.0, -2.0], [0.5, 0.0]]), "b": np.array([0.1, -0.1])}
    grads = {"dw": np.array([[0.5, 3.0], [-1.0, 0.0]]), "db": np.array([2.0, -0.25])}
    return _flat(params), _flat(grads)


def test_adagrad_follows_the_video_formula_exactly():
    (flat_p, params), (_, grads) = _tiny()
    opt = Adagrad(params)
    lr = 0.1
    w, b = params["w"].copy(), params["b"].copy()
    mem_w, mem_b = np.zeros_like(w), np.zeros_like(b)
    for scale in (1.0, -0.5, 2.0):
        g_flat, g = _flat({k: v * scale for k, v in grads.items()})
        opt.update(flat_p, g_flat, lr)
        mem_w += g["dw"] * g["dw"]
        mem_b += g["db"] * g["db"]
        w += -lr * g["dw"] / np.sqrt(mem_w + 1e-8)
        b += -lr * g["db"] / np.sqrt(mem_b + 1e-8)
        assert np.array_equal(params["w"], w) and np.array_equal(params["b"], b)
    assert np.array_equal(opt.state["mem"]["w"], mem_w)
    # the first step moves every parameter with a non-zero gradient by ~lr
    (fresh_flat, fresh), (g_flat, g) = _tiny()
    before = fresh["w"].copy()
    Adagrad(fresh).update(fresh_flat, g_flat, 0.1)
    np.testing.assert_allclose(np.abs(fresh["w"] - before)[g["dw"] != 0], 0.1, rtol=1e-6)
    assert fresh["w"][1, 1] == before[1, 1]


def test_optimizers_refuse_parameters_that_are_not_one_flat_buffer():
    with pytest.raises(ValueError, match="flat buffer"):
        Adagrad({"w": np.ones((2, 2)), "b": np.ones(2)})


def test_adam_matches_the_textbook_update():
    (flat_p, params), (_, grads) = _tiny()
    opt = Adam(params, beta1=0.9, beta2=0.999, eps=1e-8)
    lr = 0.01
    p = params["w"].copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, 6):
        g = grads["dw"] * (1 + 0.1 * t)
        opt.update(flat_p, _flat({"dw": g, "db": grads["db"]})[0], lr)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
        np.testing.assert_allclose(params["w"], p, rtol=1e-6, atol=1e-9)
    assert opt.t == 5


def test_adam_weight_decay_shrinks_matrices_only():
    flat_p, params = _flat({"W": np.ones((2, 2)), "b": np.ones(2)})
    zero, _ = _flat({"dW": np.zeros((2, 2)), "db": np.zeros(2)})
    Adam(params, weight_decay=0.5).update(flat_p, zero, 0.1)
    np.testing.assert_allclose(params["W"], 0.95)
    np.testing.assert_array_equal(params["b"], 1.0)


def test_sgd_momentum_accumulates_velocity():
    (flat_p, params), (flat_g, grads) = _tiny()
    opt = SGD(params, momentum=0.9)
    p = params["w"].copy()
    v = np.zeros_like(p)
    for _ in range(3):
        opt.update(flat_p, flat_g, 0.1)
        v = 0.9 * v - 0.1 * grads["dw"]
        p = p + v
        np.testing.assert_allclose(params["w"], p, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", ["adagrad", "adam", "sgd"])
def test_optimizer_state_dict_round_trip(name):
    (flat_p, params), (flat_g, _) = _tiny()
    opt = make_optimizer(name, params)
    for _ in range(3):
        opt.update(flat_p, flat_g, 0.05)
    saved = opt.state_dict()
    twin_flat, twin_params = _flat(params)
    twin = make_optimizer(name, twin_params)
    twin.load_state_dict(saved)
    for value in saved.values():
        value[...] = 123  # the dict is a copy: changing it changes neither optimiser
    for _ in range(2):
        opt.update(flat_p, flat_g, 0.05)
        twin.update(twin_flat, flat_g, 0.05)
    for k in params:
        assert np.array_equal(params[k], twin_params[k])
    assert opt.t == twin.t == 5
    with pytest.raises(ValueError):
        make_optimizer("rmsprop", params)


def test_clip_by_value_clips_in_place_and_reports_the_fraction():
    grads = {"a": np.array([-7.0, 0.5, 5.0, 6.0]), "b": np.array([[1.0, -5.5], [0.0, 2.0]])}
    fraction = clip_by_value(grads, 5.0)
    assert fraction == pytest.approx(3 / 8)  # -7, 6 and -5.5; exactly 5 is not clipped
    assert grads["a"].tolist() == [-5.0, 0.5, 5.0, 5.0]
    assert grads["b"].tolist() == [[1.0, -5.0], [0.0, 2.0]]
    assert clip_by_value(grads, 5.0) == 0.0
    assert clip_by_value({}, 1.0) == 0.0


def test_clip_by_global_norm_scales_everything_together():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}
    assert global_norm(grads) == pytest.approx(5.0)
    assert clip_by_global_norm(grads, 10.0) == 0.0
    assert grads["a"].tolist() == [3.0, 0.0]
    assert clip_by_global_norm(grads, 1.0) == 1.0
    assert global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    np.testing.assert_allclose(grads["b"], [[0.0], [0.8]])


@pytest.mark.parametrize("layout", ["one flat buffer", "separate arrays"])
def test_clipping_and_the_global_norm_agree_with_plain_numpy_on_both_layouts(layout):
    """The Trainer's gradients are views of one flat buffer (clipped in one call); other callers
    pass separate arrays. Both paths must give what the plain formulas give."""
    rng = np.random.default_rng(3)
    shapes = {"W": (4, 5), "b": (5,)}
    values = {name: rng.standard_normal(shape) * 4 for name, shape in shapes.items()}

    def grads():
        if layout == "separate arrays":
            return {name: value.copy() for name, value in values.items()}
        _, views = flat_views(shapes, np.float64)
        for name, value in values.items():
            views[name][...] = value
        return views

    every = np.concatenate([v.ravel() for v in values.values()])
    assert global_norm(grads()) == pytest.approx(np.sqrt(np.sum(every**2)), rel=1e-12)
    clipped = grads()
    fraction = clip_by_value(clipped, 3.0)
    assert fraction == pytest.approx(np.mean(np.abs(every) > 3.0))
    for name, value in values.items():
        np.testing.assert_array_equal(clipped[name], np.clip(value, -3.0, 3.0))
    scaled = grads()
    assert clip_by_global_norm(scaled, 1.0) == 1.0
    for name, value in values.items():
        np.testing.assert_allclose(scaled[name], value / np.sqrt(np.sum(every**2)), rtol=1e-12)


def test_learning_rate_schedules():
    assert learning_rate_at(0, 0.1, "constant", 0, 1000, 0.5, 0) == 0.1
    assert learning_rate_at(10**6, 0.1, "constant", 0, 1000, 0.5, 0) == 0.1
    # linear warm-up reaches the base rate at the end of the warm-up
    assert learning_rate_at(0, 0.1, "constant", 10, 1000, 0.5, 0) == pytest.approx(0.01)
    assert learning_rate_at(9, 0.1, "constant", 10, 1000, 0.5, 0) == pytest.approx(0.1)
    assert learning_rate_at(2500, 0.1, "step", 0, 1000, 0.5, 0) == pytest.approx(0.025)
    assert learning_rate_at(0, 0.1, "cosine", 0, 1000, 0.5, 100) == pytest.approx(0.1)
    assert learning_rate_at(100, 0.1, "cosine", 0, 1000, 0.5, 100, 0.01) == pytest.approx(0.01)
    assert learning_rate_at(100, 0.1, "cosine", 0, 1000, 0.5, 100) == 0.0  # min_lr defaults to 0
    # the floor never rises above the base (a live rate set below min_lr is used as it is)
    assert learning_rate_at(100, 0.001, "cosine", 0, 1000, 0.5, 100, 0.01) == 0.001
    rates = [learning_rate_at(s, 0.1, "cosine", 0, 1000, 0.5, 100, 0.01) for s in range(101)]
    assert np.all(np.diff(rates) <= 0)


# -- sampler --------------------------------------------------------------------------------------


@pytest.fixture
def tiny_model():
    vocab = Vocab.from_text("abcdefgh ")
    model = CharModel(Config(hidden_size=12, num_layers=2, init_scale=0.6), len(vocab))
    params = model.init_params(np.random.default_rng(3))
    params["by"] += np.random.default_rng(4).standard_normal(len(vocab))
    return vocab, model, params


def test_greedy_sampling_is_the_argmax_chain(tiny_model):
    vocab, model, params = tiny_model
    text = sample_text(model, params, vocab, "ab", 30, np.random.default_rng(0), greedy=True)
    again = sample_text(model, params, vocab, "ab", 30, np.random.default_rng(99), greedy=True)
    assert text == again and len(text) == 30
    h = model.initial_state(1)
    _, h = model.step(params, np.array([vocab.index["a"]]), h)
    ix, expected = vocab.index["b"], []
    for _ in range(30):
        logits, h = model.step(params, np.array([ix]), h)
        ix = int(np.argmax(logits[0]))
        expected.append(vocab.chars[ix])
    assert text == "".join(expected)


def test_top_k_one_equals_greedy(tiny_model):
    vocab, model, params = tiny_model
    greedy = sample_text(model, params, vocab, "c", 40, np.random.default_rng(0), greedy=True)
    for seed in range(3):
        top1 = sample_text(
            model, params, vocab, "c", 40, np.random.default_rng(seed), top_k=1, temperature=2.0
        )
        assert top1 == greedy


def test_pick_follows_the_tempered_softmax():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    rng = np.random.default_rng(0)
    n = 20000
    for temperature in (0.5, 1.0, 3.0):
        counts = np.bincount(
            [pick(logits, rng, temperature=temperature) for _ in range(n)], minlength=4
        )
        p = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
        sigma = np.sqrt(n * p * (1 - p))
        assert np.all(np.abs(counts - n * p) < 5 * sigma), (temperature, counts, n * p)
    low = [pick(logits, rng, temperature=0.01) for _ in range(200)]
    assert set(low) == {0}
    top2 = {pick(logits, rng, temperature=50.0, top_k=2) for _ in range(500)}
    assert top2 == {0, 1}
    assert pick(logits, rng, greedy=True) == 0


def test_seeded_sampling_is_reproducible_and_seed_dependent(tiny_model):
    vocab, model, params = tiny_model
    a = sample_text(model, params, vocab, "a", 60, np.random.default_rng(7))
    b = sample_text(model, params, vocab, "a", 60, np.random.default_rng(7))
    c = sample_text(model, params, vocab, "a", 60, np.random.default_rng(8))
    assert a == b
    assert a != c
    assert set(a) <= set(vocab.chars)


def test_sampling_does_not_modify_a_passed_state(tiny_model):
    vocab, model, params = tiny_model
    state = np.tanh(np.random.default_rng(5).standard_normal(model.initial_state(1).shape))
    before = state.copy()
    params_before = {k: v.copy() for k, v in params.items()}
    from_state = sample_text(
        model, params, vocab, "ab", 20, np.random.default_rng(0), greedy=True, state=state
    )
    assert np.array_equal(state, before)
    assert all(np.array_equal(params[k], params_before[k]) for k in params)
    from_zero = sample_text(model, params, vocab, "ab", 20, np.random.default_rng(0), greedy=True)
    assert from_state != from_zero, "the state should matter"


def test_bad_primes_and_temperature_are_refused(tiny_model):
    vocab, model, params = tiny_model
    with pytest.raises(VocabError, match="choose from"):
        check_prime("abz", vocab)
    with pytest.raises(VocabError):
        check_prime("", vocab)
    with pytest.raises(ValueError):
        next(generate(model, params, vocab, "a", 5, np.random.default_rng(0), temperature=0.0))


# -- metrics --------------------------------------------------------------------------------------


def test_smoothed_loss_starts_at_the_classic_value_and_updates():
    smooth = SmoothedLoss(vocab_size=80, seq_length=25)
    assert smooth.classic == pytest.approx(-math.log(1 / 80) * 25)
    assert smooth.value == pytest.approx(uniform_loss(80))
    start = smooth.value
    assert smooth.update(2.0) == pytest.approx(0.999 * start + 0.001 * 2.0)
    for _ in range(20000):
        smooth.update(2.0)
    assert smooth.value == pytest.approx(2.0, rel=1e-6)
    assert smooth.classic == pytest.approx(50.0, rel=1e-6)


def test_unit_conversions():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert perplexity(math.log(80)) == pytest.approx(80)
    assert math.isfinite(perplexity(10**6))


def test_curve_history_stays_bounded_and_keeps_the_shape():
    history = CurveHistory(capacity=16)
    for step in range(1, 1001):
        history.append(step, 3.0 * step + 1.0)
        assert history.size <= 16
    points = history.array()
    assert 8 <= len(points) <= 16
    # averages of a straight line lie on the line; steps increase; the span covers the run
    np.testing.assert_allclose(points[:, 1], 3.0 * points[:, 0] + 1.0, rtol=1e-12)
    assert np.all(np.diff(points[:, 0]) > 0)
    assert points[0, 0] < 40 and points[-1, 0] > 900
    copy = history.array()
    copy[0, 0] = -1
    assert history.array()[0, 0] != -1


@pytest.mark.parametrize(("capacity", "count"), [(4, 9), (16, 1000)])
def test_curve_history_points_are_means_of_equal_blocks(capacity, count):
    # Every stored point is the mean of an equal block of raw values, across merges: a point
    # accumulated with the old stride must not be stored beside points of the new one (capacity
    # 4, raw 0..8 must give the block means [1.5, 5.5] with 8 still accumulating, not
    # [1.5, 4.75, 7.5]).
    history = CurveHistory(capacity=capacity)
    for step in range(count):
        history.append(step, float(step))
    values = history.array()[:, 1]
    block = round(2 * values[0] + 1)  # the first point is the mean of 0 .. block-1
    expected = np.arange(len(values)) * block + (block - 1) / 2
    np.testing.assert_allclose(
        values, expected, err_msg=f"not means of consecutive blocks of {block}"
    )
    assert count - len(values) * block < block  # what is left over is less than one block


def test_curve_history_state_round_trip():
    a = CurveHistory(capacity=8)
    for step in range(37):
        a.append(step, step * 0.5)
    points, acc = a.state_dict()
    b = CurveHistory(capacity=8)
    b.load_state_dict(points, json.loads(json.dumps(acc)))
    for step in range(37, 80):
        a.append(step, step * 0.5)
        b.append(step, step * 0.5)
    assert np.array_equal(a.array(), b.array())


def test_throughput_rate():
    meter = Throughput(window=2.0)
    assert meter.rate() == 0.0
    for i in range(11):
        meter.add(i * 0.5, i * 1000)
    assert meter.rate() == pytest.approx(2000.0)
    meter.reset()
    assert meter.rate() == 0.0


# -- the engine stays free of the UI --------------------------------------------------------------


def test_engine_imports_without_textual_or_rich():
    code = (
        "import sys, pkgutil, importlib, rnn_tui.engine as engine\n"
        "for m in pkgutil.iter_modules(engine.__path__): importlib.import_module('rnn_tui.engine.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'plotext')\n"
        "             or m.startswith(('rnn_tui.tui', 'rnn_tui.corpora')))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"engine imported UI modules: {done.stdout.strip()}"
