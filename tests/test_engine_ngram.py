"""Character n-gram yardsticks: interpolated Kneser–Ney against a plain dict-and-loop
reimplementation of the formulas, normalisation, Markov chains with a known entropy rate, and the
baseline table's JSON, cache and verdicts."""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from rnn_tui.engine.ngram import (
    FALLBACK_DISCOUNTS,
    Baselines,
    BaselinesError,
    baselines_cache_file,
    compute_baselines,
    fit_kneser_ney,
    load_or_compute_baselines,
)
from rnn_tui.engine.vocab import Vocab

# ---------------------------------------------------------------------------------------------
# the reference: Chen & Goodman's interpolated (modified) Kneser–Ney, written from the formulas


def reference_discounts(counts: list[int], discounting: str) -> tuple[float, float, float]:
    """D1, D2, D3+ from the count-of-counts; the fallback when they are undefined or <= 0."""
    n = Counter(counts)
    n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
    if discounting == "single":
        d = n1 / (n1 + 2 * n2) if n1 else 0.5
        return (d, d, d)
    if not (n1 and n2 and n3):
        return (0.5, 1.0, 1.5)
    y = n1 / (n1 + 2 * n2)
    d1 = 1 - 2 * y * n2 / n1
    d2 = 2 - 3 * y * n3 / n2
    d3 = 3 - 4 * y * n4 / n3
    if d1 <= 0 or d2 <= 0 or d3 <= 0:
        return (0.5, 1.0, 1.5)
    return (d1, d2, d3)


class ReferenceKneserNey:
    """Slow and plain: tuples in dicts, one probability at a time, recursion over orders."""

    def __init__(self, train: list[int], vocab_size: int, order: int, discounting: str):
        self.V = vocab_size
        self.n = order
        raw = {}
        for k in range(1, order + 1):
            raw[k] = Counter(tuple(train[i : i + k]) for i in range(len(train) - k + 1))
        self.count = {order: raw[order]}
        for k in range(1, order):
            # continuation count N1+(. x): distinct characters seen right before x
            self.count[k] = Counter(gram[1:] for gram in raw[k + 1])
        self.D = {}
        self.total = {}
        self.gamma = {}
        for k in range(1, order + 1):
            d1, d2, d3 = reference_discounts(list(self.count[k].values()), discounting)
            self.D[k] = {1: d1, 2: d2, 3: d3}
            total = defaultdict(float)
            gamma = defaultdict(float)
            for gram, c in self.count[k].items():
                total[gram[:-1]] += c
                gamma[gram[:-1]] += self.D[k][min(c, 3)]
            self.total[k], self.gamma[k] = total, gamma

    def prob(self, history: tuple[int, ...], w: int) -> float:
        """p(w | history), len(history) < order: the order-(len+1) level of the recursion."""
        k = len(history) + 1
        lower = 1.0 / self.V if k == 1 else self.prob(history[1:], w)
        total = self.total[k].get(history, 0.0)
        if total == 0:
            return lower
        c = self.count[k].get((*history, w), 0)
        kept = max(c - self.D[k][min(c, 3)], 0.0) if c else 0.0
        return (kept + self.gamma[k][history] * lower) / total

    def log_probs(self, ids: list[int]) -> list[float]:
        """ln p of every character given at most order-1 previous ones within `ids`."""
        return [
            math.log(self.prob(tuple(ids[max(0, i - self.n + 1) : i]), w))
            for i, w in enumerate(ids)
        ]


def random_ids(rng: np.random.Generator, size: int, vocab_size: int, skew: float) -> np.ndarray:
    """Ids with a Zipf-like skew, so some are rare and counts of 1, 2, 3, 4 all occur."""
    weights = 1.0 / np.arange(1, vocab_size + 1) ** skew
    return rng.choice(vocab_size, size=size, p=weights / weights.sum()).astype(np.uint8)


CASES = [
    # (name, training length, validation length, vocabulary size or a pseudo-English text)
    pytest.param("pangrams", 3000, 600, "text", id="pangrams-text"),
    pytest.param("zipf-V3", 400, 300, 3, id="zipf-V3"),
    pytest.param("zipf-V12", 2000, 500, 12, id="zipf-V12"),
    pytest.param("zipf-V40", 3000, 800, 40, id="zipf-V40"),
]


def make_case(name: str, n_train: int, n_val: int, vocab: object):
    """Training and validation ids; the validation ids hold ids never seen in training."""
    if vocab == "text":
        text = make_text(n_train + n_val, seed=7)
        # characters only in validation: the vocabulary is larger than what training saw
        text = text[:n_train] + "#~" + text[n_train + 2 :]
        vocab_obj = Vocab(set(text) | {"%"})  # '%' is in no text at all
        ids = vocab_obj.encode(text)
        return ids[:n_train], ids[n_train:], len(vocab_obj)
    rng = np.random.default_rng(len(name) * 1000 + int(vocab))
    V = int(vocab)
    train = random_ids(rng, n_train, V - 1, skew=1.1)  # id V-1 never appears in training
    val = random_ids(rng, n_val, V, skew=0.9)
    val[::97] = V - 1
    return train, val, V


@pytest.mark.parametrize("discounting", ["modified", "single"])
@pytest.mark.parametrize(("name", "n_train", "n_val", "vocab"), CASES)
def test_log_probs_match_the_dict_reference_at_every_order(
    name, n_train, n_val, vocab, discounting
):
    train, val, V = make_case(name, n_train, n_val, vocab)
    baselines = compute_baselines(train, val, V, order=5, discounting=discounting)
    for order in range(1, 6):
        model = fit_kneser_ney(train, V, order, discounting)
        reference = ReferenceKneserNey(train.tolist(), V, order, discounting)
        expected = np.array(reference.log_probs(val.tolist()))
        np.testing.assert_allclose(model.log_probs(val), expected, rtol=0, atol=1e-9)
        assert model.cross_entropy(val) == pytest.approx(-expected.mean(), abs=1e-9)
        table = baselines.unigram if order == 1 else baselines.ngram[order]
        assert table == pytest.approx(-expected.mean(), abs=1e-9)
        ref_discounts = tuple(
            tuple(reference.D[k][r] for r in (1, 2, 3)) for k in range(1, order + 1)
        )
        np.testing.assert_allclose(model.discounts, ref_discounts, rtol=0, atol=1e-12)


def test_the_reference_cases_use_estimated_discounts_not_only_the_fallback():
    # otherwise the equivalence above would never exercise the count-of-counts formulas
    train, _, V = make_case("zipf-V40", 3000, 800, 40)
    discounts = fit_kneser_ney(train, V, 5).discounts
    assert sum(d != FALLBACK_DISCOUNTS for d in discounts) >= 3


def test_probabilities_sum_to_one_for_seen_and_unseen_contexts_at_every_order():
    text = make_text(2500, seed=3)
    vocab = Vocab(set(text) | {"#", "%"})
    train = vocab.encode(text)
    V = len(vocab)
    unseen = [vocab.index["#"], vocab.index["%"]]
    for order in range(1, 6):
        model = fit_kneser_ney(train, V, order)
        contexts = {tuple(train[i : i + order - 1].tolist()) for i in range(len(train) - order)}
        contexts |= {tuple(train[i : i + j].tolist()) for j in range(order) for i in (0, 50, 700)}
        contexts |= {(), (unseen[0],), (*unseen, 3), (3, unseen[1]), (unseen[1],) * 6}
        contexts |= {tuple(np.random.default_rng(s).integers(0, V, order + 1)) for s in range(20)}
        for context in contexts:
            p = model.distribution(np.array(context, dtype=np.int64))
            assert p.shape == (V,)
            assert (p > 0).all(), (order, context)
            assert p.sum() == pytest.approx(1.0, abs=1e-12), (order, context)


def test_distribution_agrees_with_log_probs_and_uses_only_the_last_order_minus_one_ids():
    train, val, V = make_case("zipf-V12", 2000, 500, 12)
    model = fit_kneser_ney(train, V, 4)
    lp = model.log_probs(val)
    for i in (0, 1, 2, 3, 10, 250, 499):
        assert math.log(model.distribution(val[:i])[val[i]]) == pytest.approx(lp[i], abs=1e-12)
    np.testing.assert_array_equal(model.distribution(val[:40]), model.distribution(val[37:40]))


def test_an_empty_training_text_is_the_uniform_distribution():
    model = fit_kneser_ney(np.zeros(0, dtype=np.uint8), 7, 3)
    assert model.cross_entropy(np.array([1, 2, 3, 6])) == pytest.approx(math.log(7), abs=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fit_kneser_ney(np.array([0, 1, 5]), 5, 2), "0..4"),
        (lambda: fit_kneser_ney(np.array([0, -1]), 5, 2), "0..4"),
        (lambda: fit_kneser_ney(np.array([0.5, 1.0]), 5, 2), "integer"),
        (lambda: fit_kneser_ney(np.array([0, 1]), 5, 0), "order"),
        (lambda: fit_kneser_ney(np.array([0, 1]), 0, 2), "vocab_size"),
        (lambda: fit_kneser_ney(np.array([0, 1]), 5, 2, "good-turing"), "discounting"),
        (lambda: compute_baselines(np.array([0, 1]), np.array([], dtype=int), 5), "empty"),
    ],
)
def test_bad_arguments_are_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_large_vocabularies_and_orders_do_not_overflow_the_keys():
    # V**n is far beyond int64 here; keys are prefix ranks, so this just works
    rng = np.random.default_rng(5)
    V = 60000
    train = rng.integers(0, 50, 3000).astype(np.uint16) * 1000
    model = fit_kneser_ney(train, V, 8)
    reference = ReferenceKneserNey(train.tolist(), V, 8, "modified")
    val = train[:300]
    np.testing.assert_allclose(
        model.log_probs(val), reference.log_probs(val.tolist()), rtol=0, atol=1e-9
    )


# ---------------------------------------------------------------------------------------------
# Markov chains with a known entropy rate


def stationary(transition: np.ndarray) -> np.ndarray:
    """The stationary distribution pi = pi P of a row-stochastic matrix (S, S)."""
    values, vectors = np.linalg.eig(transition.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return pi / pi.sum()


def sample_chain(table: np.ndarray, memory: int, size: int, seed: int) -> np.ndarray:
    """`size` ids from p(x_t | previous `memory` ids) = table[prev..., :] (V**memory, V) rows."""
    V = table.shape[-1]
    cumulative = [list(np.cumsum(row)) for row in table.reshape(-1, V)]
    rng = np.random.default_rng(seed)
    uniforms = rng.random(size).tolist()
    out = [0] * memory
    state = 0
    for u in uniforms:
        x = min(bisect.bisect_right(cumulative[state], u), V - 1)
        out.append(x)
        state = (state * V + x) % (V**memory)
    return np.array(out[memory:], dtype=np.uint8)


def chain_entropies(table: np.ndarray, memory: int) -> tuple[float, float]:
    """(entropy rate, H(x_t | x_{t-1})) of the chain, exactly, from its stationary distribution."""
    V = table.shape[-1]
    rows = table.reshape(-1, V)  # (S, V), S = V**memory states (the last `memory` ids)
    S = rows.shape[0]
    moves = np.zeros((S, S))
    for s in range(S):
        for x in range(V):
            moves[s, (s * V + x) % S] += rows[s, x]
    pi = stationary(moves)  # (S,)
    rate = float(-np.sum(pi[:, None] * rows * np.log(rows)))
    # joint of (previous id, next id): previous id = the last id of the state
    joint = np.zeros((V, V))
    for s in range(S):
        joint[s % V] += pi[s] * rows[s]
    conditional = float(-np.sum(joint * np.log(joint / joint.sum(axis=1, keepdims=True))))
    return rate, conditional


def dirichlet_table(V: int, memory: int, alpha: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(V, alpha), size=V**memory)  # (V**memory, V)


@pytest.mark.parametrize("memory", [1, 2])
def test_ngram_baselines_approach_the_entropy_rate_of_a_markov_chain(memory):
    V = 5 if memory == 1 else 4
    table = dirichlet_table(V, memory, alpha=0.6, seed=10 + memory)
    rate, first_order = chain_entropies(table, memory)
    val = sample_chain(table, memory, 100_000, seed=1)
    train_big = sample_chain(table, memory, 200_000, seed=2)
    train_small = train_big[:20_000]
    # what the true model scores on this very validation text: removes its sampling noise
    rows = table.reshape(-1, V)
    prev = np.zeros((memory, len(val)), dtype=np.int64)  # prev[j, t] = val[t-1-j]
    for j in range(memory):
        prev[j, memory:] = val[memory - 1 - j : len(val) - 1 - j]
    state_ids = sum(prev[j] * V**j for j in range(memory))
    true_nll = float(-np.mean(np.log(rows[state_ids, val])[memory:]))
    assert true_nll == pytest.approx(rate, abs=0.01)  # the sampler follows the table

    small = compute_baselines(train_small, val, V, order=5)
    big = compute_baselines(train_big, val, V, order=5)
    for n in range(memory + 1, 6):
        gap_small = small.ngram[n] - true_nll
        gap_big = big.ngram[n] - true_nll
        assert gap_big < gap_small, n
        assert -0.003 < gap_big < 0.006, (n, gap_big)
        assert big.ngram[n] == pytest.approx(rate, abs=0.012), n
    if memory == 2:
        # a 2-gram cannot see the second character back: it tends to H(x_t | x_{t-1}) instead
        assert first_order - rate > 0.2
        assert big.ngram[2] == pytest.approx(first_order, abs=0.01)


# ---------------------------------------------------------------------------------------------
# the table: JSON, the cache, the verdict


def planted() -> Baselines:
    return Baselines(
        uniform=4.17, unigram=3.30, ngram={2: 2.50, 3: 1.98, 4: 1.80, 5: 1.71}, order=5
    )


def test_baselines_json_round_trips_and_is_strict():
    baselines = planted()
    text = baselines.to_json()
    assert Baselines.from_json(text) == baselines
    assert json.loads(text)["ngram"] == {"2": 2.5, "3": 1.98, "4": 1.8, "5": 1.71}
    for bad in (
        "",
        "[]",
        text.replace("4.17", "NaN"),
        text.replace("4.17", "Infinity"),
        text.replace("4.17", '"4.17"'),
        text.replace('"order": 5', '"order": 6'),
        text.replace('"2"', '"02"'),
        text.replace("4.17", "-1"),
        json.dumps({**json.loads(text), "extra": 1}),
    ):
        with pytest.raises(BaselinesError):
            Baselines.from_json(bad)


@pytest.mark.parametrize(
    ("loss", "text"),
    [
        (1.62, "beats 5-gram (1.71)"),
        (1.90, "beats 3-gram (1.98), not 4-gram (1.80)"),
        (1.98, "beats 2-gram (2.50), not 3-gram (1.98)"),
        (3.00, "beats unigram (3.30), not 2-gram (2.50)"),
        (4.00, "beats uniform (4.17), not unigram (3.30)"),
        (4.50, "worse than uniform (4.17)"),
        (float("nan"), ""),
    ],
)
def test_describe_says_which_yardsticks_a_loss_beats(loss, text):
    assert planted().describe(loss) == text


def test_beaten_by_lists_the_yardsticks_above_the_loss():
    assert planted().beaten_by(1.9) == ["uniform", "unigram", "2-gram", "3-gram"]
    assert planted().beaten_by(5.0) == []
    assert [label for label, _ in planted().yardsticks()][-1] == "5-gram"


def test_describe_handles_a_higher_order_that_does_worse():
    baselines = Baselines(4.0, 3.0, {2: 2.0, 3: 1.5, 4: 1.6}, 4)
    assert baselines.describe(1.55) == "beats 4-gram (1.60), not 3-gram (1.50)"


class Counting:
    """A compute() that counts its calls and returns a given table."""

    def __init__(self, value: Baselines | None):
        self.value = value
        self.calls = 0

    def __call__(self) -> Baselines | None:
        self.calls += 1
        return self.value


def test_the_cache_returns_the_stored_table_without_computing(tmp_path: Path):
    first = Counting(planted())
    assert load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, first) == planted()
    again = Counting(None)
    assert load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, again) == planted()
    assert (first.calls, again.calls) == (1, 0)
    assert [p.name for p in tmp_path.iterdir()] == [
        baselines_cache_file(tmp_path, "ab" * 32, 0.1, 5).name
    ]  # one small file, no temporary left behind


@pytest.mark.parametrize(
    "key", [("cd" * 32, 0.1, 5), ("ab" * 32, 0.2, 5), ("ab" * 32, 0.1, 4)], ids=str
)
def test_another_corpus_split_or_order_is_computed_afresh(tmp_path: Path, key):
    load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, Counting(planted()))
    other = Baselines(4.0, 3.0, {2: 2.0, 3: 1.5, 4: 1.4}, 4)
    compute = Counting(other if key[2] == 4 else planted())
    load_or_compute_baselines(tmp_path, *key, compute)
    assert compute.calls == 1
    # and the original entry is still there
    assert load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, Counting(None)) == planted()


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "",
        lambda text: "\x00\xff garbage",
        lambda text: text.replace(
            '"corpus_sha256": "' + "ab" * 32, '"corpus_sha256": "' + "ef" * 32
        ),
        lambda text: text.replace('"version": 1', '"version": 99'),
        lambda text: text.replace("4.17", "NaN"),
        lambda text: json.dumps(["not", "an", "object"]),
    ],
)
def test_a_damaged_or_foreign_cache_file_is_recomputed_and_replaced(tmp_path: Path, damage):
    path = baselines_cache_file(tmp_path, "ab" * 32, 0.1, 5)
    load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, Counting(planted()))
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    fresh = Baselines(4.17, 3.3, {2: 2.4, 3: 1.9, 4: 1.7, 5: 1.6}, 5)
    compute = Counting(fresh)
    assert load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, compute) == fresh
    assert compute.calls == 1
    assert Baselines.from_dict(json.loads(path.read_text())["baselines"]) == fresh


def test_an_unwritable_cache_is_skipped_quietly(tmp_path: Path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    compute = Counting(planted())
    assert load_or_compute_baselines(not_a_folder, "ab" * 32, 0.1, 5, compute) == planted()
    assert compute.calls == 1


def test_an_aborted_compute_is_not_cached(tmp_path: Path):
    assert load_or_compute_baselines(tmp_path, "ab" * 32, 0.1, 5, Counting(None)) is None
    assert list(tmp_path.iterdir()) == []


def test_compute_baselines_stops_between_orders_when_asked():
    train, val, V = make_case("zipf-V12", 2000, 500, 12)
    heard: list[int] = []
    polls = iter([False, False, True])
    result = compute_baselines(
        train, val, V, 5, should_abort=lambda: next(polls), on_order=lambda n, _: heard.append(n)
    )
    assert result is None
    assert heard == [1, 2]


def test_compute_baselines_fills_the_table_with_uniform_ln_v():
    train, val, V = make_case("zipf-V12", 2000, 500, 12)
    baselines = compute_baselines(train, val, V, 3)
    assert baselines.uniform == pytest.approx(math.log(12), abs=1e-15)
    assert baselines.order == 3 and sorted(baselines.ngram) == [2, 3]
