"""StepSampler: the step-through sampler agrees with generate, undoes exactly, never writes params."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rnn_tui.engine.config import Config
from rnn_tui.engine.model import CharModel
from rnn_tui.engine.sampler import generate
from rnn_tui.engine.stepper import Candidate, StepSampler
from rnn_tui.engine.vocab import Vocab, VocabError

VOCAB = Vocab("abcdefgh ,.\n")
H = 6


def random_model(cell: str, layers: int = 1, seed: int = 0, dtype: str = "float64"):
    """A small model with weights large enough that its distributions are far from uniform."""
    model = CharModel(
        Config(cell=cell, hidden_size=H, num_layers=layers, init_scale=0.8, dtype=dtype),
        len(VOCAB),
    )
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    for value in params.values():
        if value.ndim == 1:
            value += 0.5 * rng.standard_normal(value.shape)
    return model, params


def read_only(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies that raise on any write, so a test fails if the sampler modifies parameters."""
    frozen = {}
    for name, value in params.items():
        copy = value.copy()
        copy.setflags(write=False)
        frozen[name] = copy
    return frozen


def reference_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Plain softmax of logits / T, written out."""
    z = [float(v) / temperature for v in logits]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    return np.array([v / sum(e) for v in e])


MODELS = [("rnn", 1), ("lstm", 2), ("gru", 1)]


@pytest.mark.parametrize(
    ("cell", "layers", "dtype"), [*[(*m, "float64") for m in MODELS], ("lstm", 2, "float32")]
)
@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, 0), (0.5, 0), (1.7, 0), (0.9, 3)])
def test_all_draws_reproduce_generate(cell, layers, dtype, temperature, top_k):
    model, params = random_model(cell, layers, seed=3, dtype=dtype)
    prime = "abc d"
    state = 0.3 * np.random.default_rng(9).standard_normal(model.initial_state(1).shape)
    expected = "".join(
        generate(
            model,
            params,
            VOCAB,
            prime,
            60,
            np.random.default_rng(42),
            temperature=temperature,
            top_k=top_k,
            state=state,
        )
    )
    sampler = StepSampler(
        model,
        read_only(params),
        VOCAB,
        prime,
        np.random.default_rng(42),
        temperature=temperature,
        top_k=top_k,
        state=state,
    )
    drawn = "".join(sampler.draw() for _ in range(60))
    assert drawn == expected
    assert sampler.text == prime + expected
    assert [s.how for s in sampler.steps] == ["drawn"] * 60
    assert len(set(expected)) > 3  # the planted weights give a varied sample, not one repeated id


@pytest.mark.parametrize(("cell", "layers"), MODELS)
def test_force_then_undo_restores_state_candidates_and_rng(cell, layers):
    model, params = random_model(cell, layers, seed=5)
    rng = np.random.default_rng(7)
    sampler = StepSampler(model, read_only(params), VOCAB, "ba", rng, temperature=0.8)
    sampler.draw()
    state, logits = sampler.state, sampler.logits
    candidates, text = sampler.candidates(), sampler.text
    rng_state = rng.bit_generator.state

    sampler.force("h")
    assert sampler.text == text + "h"
    assert not np.array_equal(sampler.state, state)
    assert sampler.undo()
    assert np.array_equal(sampler.state, state)
    assert np.array_equal(sampler.logits, logits)
    assert sampler.candidates() == candidates
    assert sampler.text == text
    assert rng.bit_generator.state == rng_state
    assert len(sampler.steps) == 1


def test_undo_rewinds_the_random_stream():
    model, params = random_model("rnn", seed=1)
    rng = np.random.default_rng(11)
    sampler = StepSampler(model, params, VOCAB, "a", rng, temperature=1.5)
    first = [sampler.draw() for _ in range(8)]
    for _ in range(8):
        assert sampler.undo()
    assert not sampler.undo()  # only the prime is left
    assert sampler.text == "a"
    again = [sampler.draw() for _ in range(8)]
    assert again == first
    # and the stream continues as generate's would: 8 + 12 draws equal a 20-character generate
    more = [sampler.draw() for _ in range(12)]
    expected = "".join(
        generate(model, params, VOCAB, "a", 20, np.random.default_rng(11), temperature=1.5)
    )
    assert "".join(first + more) == expected


def test_undo_of_a_draw_after_a_force_restores_that_draws_rng():
    model, params = random_model("gru", seed=2)
    rng = np.random.default_rng(0)
    sampler = StepSampler(model, params, VOCAB, "cab", rng)
    sampler.force(",")
    before = rng.bit_generator.state
    drawn = sampler.draw()
    assert rng.bit_generator.state != before  # a draw consumes a random number
    sampler.undo()
    assert rng.bit_generator.state == before
    assert sampler.draw() == drawn


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
def test_probabilities_are_the_softmax_of_recomputed_logits(temperature):
    model, params = random_model("lstm", 2, seed=4)
    prime = "ab, c"
    sampler = StepSampler(
        model, params, VOCAB, prime, np.random.default_rng(1), temperature=temperature
    )
    sampler.force("d")
    # recompute the logits by feeding the whole text through the model from a zero state
    h = model.initial_state(1)
    for ch in sampler.text:
        logits, h = model.step(params, np.array([VOCAB.index[ch]]), h)
    expected = reference_probs(logits[0], temperature)
    np.testing.assert_allclose(sampler.distribution(), expected, rtol=1e-12, atol=1e-15)
    ranked = sorted(range(len(VOCAB)), key=lambda i: (-float(logits[0, i]), i))[:10]
    candidates = sampler.candidates()
    assert [c.id for c in candidates] == ranked
    assert [c.char for c in candidates] == [VOCAB.chars[i] for i in ranked]
    np.testing.assert_allclose([c.prob for c in candidates], expected[ranked], rtol=1e-12)
    assert all(a.prob >= b.prob for a, b in itertools.pairwise(candidates))


def test_top_k_zeroes_all_but_the_k_best():
    model, params = random_model("rnn", seed=6)
    sampler = StepSampler(model, params, VOCAB, "ab", np.random.default_rng(1), top_k=3)
    logits = sampler.logits
    best = np.argsort(-logits)[:3]
    p = sampler.distribution()
    expected = np.zeros(len(VOCAB))
    expected[best] = reference_probs(logits[best], 1.0)
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=0)
    assert [c.prob > 0 for c in sampler.candidates(5)] == [True, True, True, False, False]


def test_temperature_changes_probs_at_once_but_not_the_state():
    model, params = random_model("gru", seed=8)
    sampler = StepSampler(model, params, VOCAB, "hag", np.random.default_rng(3))
    state, hot = sampler.state, sampler.candidates()
    sampler.temperature = 0.4
    cold = sampler.candidates()
    assert np.array_equal(sampler.state, state)
    assert [c.id for c in cold] == [c.id for c in hot]  # same ranking, sharper bars
    assert cold[0].prob > hot[0].prob
    assert cold[-1].prob < hot[-1].prob
    np.testing.assert_allclose(
        [c.prob for c in cold], reference_probs(sampler.logits, 0.4)[[c.id for c in cold]]
    )
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            sampler.temperature = bad
    assert sampler.temperature == 0.4


def test_step_records_hold_probabilities_at_t1_and_at_the_temperature_used():
    model, params = random_model("rnn", seed=10)
    sampler = StepSampler(model, params, VOCAB, "ab", np.random.default_rng(5), temperature=0.5)
    logits = sampler.logits
    third = sampler.candidates()[2]
    sampler.choose(3)
    record = sampler.steps[-1]
    assert (record.char, record.id, record.how) == (third.char, third.id, "picked")
    p1 = reference_probs(logits, 1.0)[third.id]
    assert record.prob == pytest.approx(p1, rel=1e-12)
    assert record.surprise == pytest.approx(-math.log(p1), rel=1e-12)
    assert record.prob_at_temperature == pytest.approx(
        reference_probs(logits, 0.5)[third.id], rel=1e-12
    )
    assert record.temperature == 0.5
    sampler.force("\n")
    assert sampler.steps[-1].how == "forced"
    surprise = sampler.surprise()
    assert surprise.shape == (len(sampler.text),)
    assert math.isnan(surprise[0])
    assert surprise[-2:].tolist() == [s.surprise for s in sampler.steps]


def test_prime_surprise_is_the_teacher_forced_loss():
    model, params = random_model("lstm", 1, seed=12)
    prime = "face, bag"
    sampler = StepSampler(model, params, VOCAB, prime, np.random.default_rng(0))
    h = model.initial_state(1)
    expected = [float("nan")]
    for a, b in itertools.pairwise(prime):
        logits, h = model.step(params, np.array([VOCAB.index[a]]), h)
        expected.append(-math.log(reference_probs(logits[0], 1.0)[VOCAB.index[b]]))
    np.testing.assert_allclose(sampler.surprise(), expected, rtol=1e-10)


def test_force_rejects_characters_outside_the_vocabulary():
    model, params = random_model("rnn")
    sampler = StepSampler(model, params, VOCAB, "a", np.random.default_rng(0))
    with pytest.raises(VocabError, match=r"character 'Z' is not in the vocabulary; choose from: "):
        sampler.force("Z")
    with pytest.raises(VocabError, match="one character"):
        sampler.force("ab")
    with pytest.raises(VocabError, match="not in the vocabulary"):
        StepSampler(model, params, VOCAB, "aZ", np.random.default_rng(0))
    with pytest.raises(ValueError, match="rank"):
        sampler.choose(0)
    with pytest.raises(ValueError, match="rank"):
        sampler.choose(len(VOCAB) + 1)
    assert sampler.text == "a" and not sampler.can_undo


def test_passed_state_and_params_are_left_untouched():
    model, params = random_model("lstm", 2, seed=13)
    frozen = read_only(params)
    state = np.random.default_rng(2).standard_normal(model.initial_state(1).shape)
    state_before = state.copy()
    sampler = StepSampler(model, frozen, VOCAB, "abc", np.random.default_rng(4), state=state)
    for move in range(12):
        if move % 3 == 0:
            sampler.draw()
        elif move % 3 == 1:
            sampler.choose(2)
        else:
            sampler.force("e")
    sampler.undo()
    exposed = sampler.state
    exposed += 1.0  # the exposed state is a copy: writing to it changes nothing inside
    assert not np.array_equal(sampler.state, exposed)
    assert np.array_equal(state, state_before)
    for name, value in params.items():
        assert np.array_equal(frozen[name], value)


def test_candidate_is_a_plain_record():
    model, params = random_model("rnn")
    sampler = StepSampler(model, params, VOCAB, "a", np.random.default_rng(0))
    first = sampler.candidates(1)[0]
    assert isinstance(first, Candidate)
    ident, char, prob = first
    assert VOCAB.chars[ident] == char and 0 < prob <= 1
    assert len(sampler.candidates(100)) == len(VOCAB)
    assert sum(c.prob for c in sampler.candidates(100)) == pytest.approx(1.0)
