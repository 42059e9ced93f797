"""engine.probe.trace equals the model's own computations, never writes to its parameters, and
its gates equal the textbook definitions in the cell modules' docstrings.

The references here are the sampler's path (`CharModel.step`, one character at a time), the
training path (`CharModel.loss_and_grads`, `CharModel.loss`) and a plain recomputation of every
gate from separate per-gate weight blocks, with sigmoid written as 1 / (1 + exp(-x)).
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tui.engine import CharModel, Config
from rnn_tui.engine.probe import ROBUST_QUANTILE, SIGNAL_RANGES, ProbeCancelled, trace

V, H, N = 11, 5, 37
TOLERANCE = {"float64": 1e-11, "float32": 2e-5}
GATE_ORDER = {"lstm": ("o", "i", "f", "g"), "gru": ("z", "r", "n")}
CASES = [(cell, layers, dtype) for cell in ("rnn", "lstm", "gru") for layers in (1, 2)
         for dtype in ("float64", "float32")]  # fmt: skip


def make_model(cell: str, layers: int, dtype: str, seed: int = 0):
    """A small model with weights large enough (scale 0.5) that every unit moves."""
    config = Config(cell=cell, hidden_size=H, num_layers=layers, dtype=dtype, init_scale=0.5)
    model = CharModel(config, V)
    return model, model.init_params(np.random.default_rng(seed))


def passage(n: int = N, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=n)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    p = np.exp(z)
    return p / p.sum()


def stepwise(model, params, ids, state):
    """The sampler's path: model.step per character. Returns per (layer, slot) (N, H) arrays and
    the (N, V) softmax of each step's logits."""
    L, S = model.num_layers, model.state_slots
    states = {(k, s): np.empty((len(ids), H)) for k in range(L) for s in range(S)}
    probs = np.empty((len(ids), V))
    for t, i in enumerate(ids):
        logits, state = model.step(params, np.array([i]), state)
        for (k, s), out in states.items():
            out[t] = state[k, s, 0]
        probs[t] = softmax(logits[0])
    return states, probs, state


@pytest.mark.parametrize("cell,layers,dtype", CASES)
def test_trace_equals_the_models_step_by_step_forward(cell, layers, dtype):
    model, params = make_model(cell, layers, dtype)
    ids = passage()
    tr = trace(model, params, ids)
    states, probs, final = stepwise(model, params, ids, model.initial_state(1))
    tol = TOLERANCE[dtype]
    for k in range(layers):
        np.testing.assert_allclose(tr.signal(k, "h"), states[(k, 0)], rtol=0, atol=tol)
        if cell == "lstm":
            np.testing.assert_allclose(tr.signal(k, "c"), states[(k, 1)], rtol=0, atol=tol)
    np.testing.assert_allclose(tr.probs, probs, rtol=0, atol=tol)
    np.testing.assert_allclose(tr.final_state, final, rtol=0, atol=tol)
    for t in (0, N // 2, N - 1):
        expected = np.argsort(-probs[t])[:5]
        got = tr.top_k(t)
        assert [i for i, _ in got] == expected.tolist()
        np.testing.assert_allclose([p for _, p in got], probs[t, expected], rtol=0, atol=tol)
    # loss: -log of the probability of the character that came next; the last one is unknown
    np.testing.assert_allclose(
        tr.loss[:-1], -np.log(probs[np.arange(N - 1), ids[1:]]), rtol=tol, atol=0
    )
    assert np.isnan(tr.loss[-1])


@pytest.mark.parametrize("cell,layers,dtype", CASES)
def test_trace_equals_the_training_forward(cell, layers, dtype):
    """The top layer's h and the final state equal the batched training pass (cell.forward);
    the summed loss with next_id equals CharModel.loss over the same targets."""
    model, params = make_model(cell, layers, dtype, seed=2)
    ids, next_id = passage(seed=3), 4
    tr = trace(model, params, ids, next_id=next_id)
    targets = np.append(ids[1:], next_id)
    state0 = model.initial_state(1)
    result = model.loss_and_grads(params, ids[:, None], targets[:, None], state0)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(tr.signal(layers - 1, "h"), result.hidden[:, 0], rtol=0, atol=tol)
    np.testing.assert_allclose(tr.final_state, result.state, rtol=0, atol=tol)
    total, _ = model.loss(params, ids[:, None], targets[:, None], state0)
    np.testing.assert_allclose(tr.loss.sum(), total, rtol=10 * tol)
    assert np.isfinite(tr.loss).all()


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def layer_inputs(model, params, tr, layer):
    """(N, I) what a layer reads at each step: one-hot ids for the first, h below otherwise."""
    if layer == 0:
        return np.eye(V)[tr.ids]
    return tr.signal(layer - 1, "h")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_gates_equal_the_docstring_definitions(cell, layers):
    model, params = make_model(cell, layers, "float64", seed=5)
    tr = trace(model, params, passage(seed=6))
    for k in range(layers):
        Wx, Wh, b = (params[n] for n in model.layer_names(k))
        block = {g: slice(j * H, (j + 1) * H) for j, g in enumerate(GATE_ORDER[cell])}
        x = layer_inputs(model, params, tr, k)  # (N, I)
        h = tr.signal(k, "h")
        h_prev = np.vstack([np.zeros(H), h[:-1]])  # (N, H) h_{t-1}, zero start

        def pre(g, x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b, block=block):
            return x @ Wx[block[g]].T + h_prev @ Wh[block[g]].T + b[block[g]]

        if cell == "lstm":
            i, f, o = sigmoid(pre("i")), sigmoid(pre("f")), sigmoid(pre("o"))
            g = np.tanh(pre("g"))
            for name, want in zip("ifog", (i, f, o, g), strict=True):
                np.testing.assert_allclose(tr.signal(k, name), want, rtol=0, atol=1e-12)
            c_prev = np.vstack([np.zeros(H), tr.signal(k, "c")[:-1]])
            c = f * c_prev + i * g
            np.testing.assert_allclose(tr.signal(k, "c"), c, rtol=0, atol=1e-12)
            np.testing.assert_allclose(h, o * np.tanh(c), rtol=0, atol=1e-12)
        else:
            z = sigmoid(x @ Wx[block["z"]].T + b[block["z"]] + h_prev @ Wh[block["z"]].T)
            r = sigmoid(x @ Wx[block["r"]].T + b[block["r"]] + h_prev @ Wh[block["r"]].T)
            n = np.tanh(x @ Wx[block["n"]].T + b[block["n"]] + r * (h_prev @ Wh[block["n"]].T))
            for name, want in zip("zrn", (z, r, n), strict=True):
                np.testing.assert_allclose(tr.signal(k, name), want, rtol=0, atol=1e-12)
            np.testing.assert_allclose(h, (1 - z) * n + z * h_prev, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_probing_reads_read_only_parameters_and_leaves_them_unchanged(cell, dtype):
    model, params = make_model(cell, 2, dtype, seed=7)
    before = {n: a.copy() for n, a in params.items()}
    for a in params.values():
        a.setflags(write=False)
    state = model.initial_state(1) + 0.1
    state.setflags(write=False)
    trace(model, params, passage(), warmup_ids=passage(50, seed=8), state=state, chunk=16)
    for n, a in params.items():
        assert np.array_equal(a, before[n]), n
    assert np.all(state == 0.1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_warmup_equals_tracing_the_preceding_text(cell):
    model, params = make_model(cell, 2, "float64", seed=9)
    warm, ids = passage(23, seed=10), passage(seed=11)
    whole = trace(model, params, np.concatenate([warm, ids]))
    tr = trace(model, params, ids, warmup_ids=warm, next_id=int(ids[0]))
    for key, values in tr.signals.items():
        np.testing.assert_allclose(values, whole.signals[key][len(warm) :], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.probs, whole.probs[len(warm) :], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.loss[:-1], whole.loss[len(warm) : -1], rtol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_chunks_carry_the_state_across(cell):
    model, params = make_model(cell, 2, "float64", seed=12)
    ids = passage(seed=13)
    one, chunked = trace(model, params, ids), trace(model, params, ids, chunk=5)
    assert one.names == chunked.names
    for key, values in one.signals.items():
        np.testing.assert_allclose(chunked.signals[key], values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked.probs, one.probs, rtol=0, atol=1e-12)


def test_signal_names_per_cell_and_keep():
    expected = {"rnn": ("h",), "lstm": ("h", "c", "i", "f", "o", "g"), "gru": ("h", "z", "r", "n")}
    for cell, names in expected.items():
        model, params = make_model(cell, 2, "float64")
        tr = trace(model, params, passage())
        assert tr.names == names
        assert set(tr.signals) == {(k, n) for k in range(2) for n in names}
        assert all(a.shape == (N, H) and a.dtype == np.float64 for a in tr.signals.values())
        kept = trace(model, params, passage(), keep=("h", "c"))
        assert kept.names == tuple(n for n in names if n in ("h", "c"))
        with pytest.raises(KeyError, match="signals"):
            kept.signal(0, "z")


def test_gates_lie_in_their_ranges():
    for cell in ("lstm", "gru"):
        model, params = make_model(cell, 1, "float64", seed=14)
        tr = trace(model, params, passage(200, seed=15))
        for name in tr.names:
            bounds = SIGNAL_RANGES[name]
            if bounds is not None:
                values = tr.signal(0, name)
                assert bounds[0] <= values.min() and values.max() <= bounds[1], name


def test_trace_arrays_are_read_only():
    model, params = make_model("lstm", 1, "float32")
    tr = trace(model, params, passage())
    for a in (*tr.signals.values(), tr.probs, tr.loss, tr.ids, tr.final_state):
        with pytest.raises(ValueError):
            a[0] = 0
    with pytest.raises(TypeError):
        tr.signals[(0, "h")] = np.zeros((N, H))


def test_probabilities_are_stable_for_huge_logits():
    """Logits of +-1e4 overflow a naive exp in float32 and float64: the probabilities must still
    sum to 1 and the loss on a hopeless character stay finite (about the logit gap)."""
    model, params = make_model("rnn", 1, "float32")
    params = {n: a.copy() for n, a in params.items()}
    params["Why"][...] = 0
    params["by"][...] = 0
    params["by"][0] = 1e4  # id 0 is all but certain
    ids = np.array([1, 2, 3])
    tr = trace(model, params, ids, next_id=5)
    np.testing.assert_allclose(tr.probs.sum(axis=1), 1.0)
    assert tr.top_k(0, k=1) == [(0, 1.0)]
    np.testing.assert_allclose(tr.loss, 1e4, rtol=1e-6)


def test_display_scale_is_one_for_bounded_signals_and_a_robust_max_for_c():
    model, params = make_model("lstm", 2, "float64", seed=16)
    tr = trace(model, params, passage(300, seed=17))
    for name in ("h", "i", "f", "o", "g"):
        assert tr.display_scale(name) == 1.0
    both = np.abs(np.concatenate([tr.signal(0, "c").ravel(), tr.signal(1, "c").ravel()]))
    assert tr.display_scale("c") == pytest.approx(np.quantile(both, ROBUST_QUANTILE))
    layer1 = np.quantile(np.abs(tr.signal(1, "c")), ROBUST_QUANTILE)
    assert tr.display_scale("c", layer=1) == pytest.approx(layer1)
    assert tr.display_scale("c") < np.abs(both).max()  # robust: below the single largest value
    for unit in (0, 3):  # one cell: its own robust maximum, not its layer's
        own = np.quantile(np.abs(tr.signal(1, "c")[:, unit]), ROBUST_QUANTILE)
        assert tr.display_scale("c", layer=1, unit=unit) == pytest.approx(own, rel=1e-12)
    assert tr.display_scale("h", layer=1, unit=0) == 1.0
    with pytest.raises(ValueError, match="needs its layer"):
        tr.display_scale("c", unit=0)


def test_progress_reaches_one_and_abort_cancels():
    model, params = make_model("gru", 1, "float64")
    seen: list[float] = []
    trace(model, params, passage(40), warmup_ids=passage(10), chunk=8, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 2 + 5
    polls = []

    def abort_on_second_poll():
        polls.append(1)
        return len(polls) == 2

    with pytest.raises(ProbeCancelled):
        trace(model, params, passage(40), chunk=8, should_abort=abort_on_second_poll)
    assert len(polls) == 2


def test_bad_passages_are_refused():
    model, params = make_model("rnn", 1, "float64")
    with pytest.raises(ValueError, match="empty"):
        trace(model, params, np.array([], dtype=int))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        trace(model, params, np.array([0, V]))
    with pytest.raises(ValueError, match="1-D"):
        trace(model, params, np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="next_id"):
        trace(model, params, np.array([0, 1]), next_id=V)
    with pytest.raises(ValueError, match="shape"):
        trace(model, params, np.array([0, 1]), state=np.zeros((1, 1, 2, H)))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cell_trace_is_batched_and_equals_cell_forward(cell):
    """Cell.trace over B = 3 streams gives forward's hs and final state, and keeps xproj intact."""
    model, params = make_model(cell, 1, "float64", seed=18)
    rng = np.random.default_rng(19)
    ids = rng.integers(0, V, size=(N, 3))  # (T, B)
    state0 = rng.standard_normal((model.state_slots, 3, H)) * 0.5
    xproj = model._input_projection(0, params, ids, None)  # (G, T, B, H)
    kept = xproj.copy()
    wh = model.layer_names(0)[1]
    signals, final = model.cells[0].trace(xproj, params[wh], state0)
    assert np.array_equal(xproj, kept)
    hs, _, want_final = model.cells[0].forward(xproj.copy(), params[wh], state0)
    np.testing.assert_allclose(signals["h"], hs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(final, want_final, rtol=0, atol=1e-12)
    assert next(iter(signals)) == "h" and all(a.shape == (N, 3, H) for a in signals.values())
