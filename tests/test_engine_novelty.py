"""The novelty check (engine.novelty): suffix array, matching statistics and the Novelty summary.

Each is held against a plain reimplementation written here: Python's sort of the suffixes for
the suffix array, Python's `in` on the training string for the matching lengths, a set union
for the copied fraction; and planted copies of known length must be found exactly.
"""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from conftest import make_text
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_tui.engine import novelty as novelty_module
from rnn_tui.engine.novelty import (
    Novelty,
    NoveltyCancelled,
    NoveltyIndex,
    novelty_from_lengths,
    suffix_array,
)
from rnn_tui.engine.vocab import Vocab

ALPHABETS = ("a", "ab", "abc", "acgt", string.ascii_letters + " .,\n")
PACKINGS = (1, 2, None)  # ids per key of the first sort; None = as many as fit (often all)


def naive_suffix_array(seq) -> list[int]:
    """The definition: positions sorted by the suffixes they start (str or list of ids)."""
    return sorted(range(len(seq)), key=lambda i: seq[i:])


def brute_matching_lengths(train: str, sample: str) -> list[int]:
    """For each i, the longest prefix of sample[i:] that `in` finds in the training string."""
    lengths = []
    for i in range(len(sample)):
        length = 0
        while i + length < len(sample) and sample[i : i + length + 1] in train:
            length += 1
        lengths.append(length)
    return lengths


def encode_both(train: str, sample: str) -> tuple[np.ndarray, np.ndarray]:
    """Ids of both texts in one vocabulary, as the app has them (sample ids are valid ids)."""
    vocab = Vocab.from_text(train + sample)
    return vocab.encode(train), vocab.encode(sample)


def random_text(rng: random.Random, alphabet: str, length: int) -> str:
    """Random, one-letter, periodic or self-copying text: the shapes that break suffix sorters."""
    shape = rng.random()
    if shape < 0.2:
        return rng.choice(alphabet) * length
    if shape < 0.45:
        period = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        return (period * (length + 1))[:length]
    if shape < 0.65 and length > 4:
        head = "".join(rng.choice(alphabet) for _ in range(length // 3 + 1))
        return (head * 3)[:length]
    return "".join(rng.choice(alphabet) for _ in range(length))


# ---------------------------------------------------------------------------------------------
# the suffix array


@pytest.mark.parametrize("ids_per_key", PACKINGS)
@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_suffix_array_equals_sorted_suffixes_on_random_texts(alphabet, ids_per_key):
    rng = random.Random(f"{alphabet}-{ids_per_key}")
    for _ in range(60):
        text = random_text(rng, alphabet, rng.randint(0, 120))
        ids = Vocab.from_text(text or "a").encode(text)
        sa = suffix_array(ids, ids_per_key=ids_per_key)
        assert sa.tolist() == naive_suffix_array(text), text


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1,
        "a" * 2,
        "a" * 3,
        "a" * 257,
        "a" * 1000,
        "ab" * 300,
        "aab" * 200,
        "abcabcabd" * 50,
        "b" * 300 + "a" + "b" * 300,
    ],
    ids=lambda t: f"{t[:6]}..x{len(t)}",
)
@pytest.mark.parametrize("ids_per_key", PACKINGS)
def test_suffix_array_on_long_repeats(text, ids_per_key):
    """Long runs: every suffix shares a prefix of nearly its whole length with another, so the
    doubling needs all its rounds and a comparison that ignores the text's end goes wrong."""
    ids = Vocab.from_text(text).encode(text)
    assert suffix_array(ids, ids_per_key=ids_per_key).tolist() == naive_suffix_array(text)


def test_suffix_array_of_a_fibonacci_word():
    """The Fibonacci word is the classic worst case of repetitiveness for suffix sorting."""
    a, b = "a", "ab"
    while len(b) < 3000:
        a, b = b, b + a
    ids = Vocab.from_text(b).encode(b)
    assert suffix_array(ids, ids_per_key=1).tolist() == naive_suffix_array(b)


@pytest.mark.parametrize("ids_per_key", PACKINGS)
def test_suffix_array_of_pangram_prose(ids_per_key):
    """5,000 characters made of six sentences repeated: long repeats between real words."""
    text = make_text(5000, seed=7)
    ids = Vocab.from_text(text).encode(text)
    assert suffix_array(ids, ids_per_key=ids_per_key).tolist() == naive_suffix_array(text)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.sampled_from([0, 1, 2, 3, 65535, 2**32 - 1]), min_size=0, max_size=150).map(
        lambda xs: xs + xs[: len(xs) // 2]
    ),  # a copy of its own head: long repeats
    ids_per_key=st.sampled_from([1, 2, 3, None]),
)
def test_suffix_array_equals_sorted_suffixes_for_any_ids(values, ids_per_key):
    """Ids of any width and spacing (not just a dense vocabulary) sort as integers do."""
    ids = np.array(values, dtype=np.uint32)
    assert suffix_array(ids, ids_per_key=ids_per_key).tolist() == naive_suffix_array(values)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int64])
def test_suffix_array_does_not_depend_on_the_id_dtype(dtype):
    text = make_text(800, seed=3)
    ids = Vocab.from_text(text).encode(text).astype(dtype)
    sa = suffix_array(ids)
    assert sa.dtype == np.int32
    assert not sa.flags.writeable
    assert sa.tolist() == naive_suffix_array(text)


def test_build_polls_should_abort_and_stops():
    ids = np.zeros(5000, dtype=np.uint8)  # "aaaa…": needs several doubling rounds
    polls = []

    def abort_on_second_poll() -> bool:
        polls.append(1)
        return len(polls) >= 2

    with pytest.raises(NoveltyCancelled):
        NoveltyIndex.build(ids, should_abort=abort_on_second_poll)
    assert len(polls) == 2
    index = NoveltyIndex.build(ids, should_abort=lambda: False)
    assert index.suffix_array.tolist() == list(range(4999, -1, -1))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 3), dtype=np.uint8), np.array([1.0, 2.0]), np.array([3, -1, 2])],
    ids=["2-D", "floats", "negative"],
)
def test_bad_ids_are_refused(bad):
    with pytest.raises(ValueError):
        suffix_array(bad)
    with pytest.raises(ValueError):
        NoveltyIndex.build(np.zeros(4, dtype=np.uint8)).matching_lengths(bad)


# ---------------------------------------------------------------------------------------------
# matching statistics


@pytest.mark.parametrize("alphabet", ["a", "ab", "abc", "acgt", string.ascii_lowercase])
def test_matching_lengths_equal_brute_force(alphabet):
    rng = random.Random(alphabet)
    for _ in range(60):
        train = random_text(rng, alphabet, rng.randint(0, 150))
        # Sample: the training alphabet plus characters the training text never holds, and
        # sometimes a piece copied from the training text.
        sample = "".join(rng.choice(alphabet + "XY") for _ in range(rng.randint(0, 60)))
        if train and rng.random() < 0.6:
            at = rng.randrange(len(train))
            cut = rng.randrange(len(sample) + 1)
            sample = sample[:cut] + train[at : at + rng.randint(1, 40)] + sample[cut:]
        train_ids, sample_ids = encode_both(train, sample)
        lengths = NoveltyIndex.build(train_ids).matching_lengths(sample_ids)
        assert lengths.tolist() == brute_matching_lengths(train, sample), (train, sample)


@settings(max_examples=150, deadline=None)
@given(
    train=st.text(alphabet="abc", max_size=80),
    sample=st.text(alphabet="abcd", max_size=40),
)
def test_matching_lengths_equal_brute_force_hypothesis(train, sample):
    train_ids, sample_ids = encode_both(train, sample)
    lengths = NoveltyIndex.build(train_ids).matching_lengths(sample_ids)
    assert lengths.tolist() == brute_matching_lengths(train, sample)


@pytest.mark.parametrize("window_budget", [None, 64])
def test_long_copies_are_measured_to_their_full_length(window_budget, monkeypatch):
    """Matches far longer than the first comparison window (16) and its doublings; with a tiny
    scratch budget the window stops growing and comparisons take many more steps."""
    if window_budget is not None:
        monkeypatch.setattr(novelty_module, "_WINDOW_BUDGET", window_budget)
    rng = random.Random(5)
    train = "".join(rng.choice("ab") for _ in range(3000))
    sample = "X" + train[100:500] + "Y" + train[2000:2300] + train[5:200]
    train_ids, sample_ids = encode_both(train, sample)
    lengths = NoveltyIndex.build(train_ids).matching_lengths(sample_ids)
    assert lengths.tolist() == brute_matching_lengths(train, sample)
    assert lengths.max() >= 400


def test_matching_lengths_on_kafka(kafka_text):
    """A real text (kafka.txt, ~140k characters): a copied passage inside made-up words."""
    rng = random.Random(11)
    passage = kafka_text[20000:20120]
    noise = "".join(rng.choice("qzxjv ") for _ in range(60))
    sample = noise[:30] + passage + noise[30:] + kafka_text[50000:50030]
    vocab = Vocab.from_text(kafka_text + sample)
    index = NoveltyIndex.build(vocab.encode(kafka_text))
    lengths = index.matching_lengths(vocab.encode(sample))
    assert lengths.tolist() == brute_matching_lengths(kafka_text, sample)


@pytest.mark.parametrize("shift", [0, 40_000, 2**31, 2**40])
def test_matching_lengths_do_not_depend_on_id_values(shift):
    """Ids beyond int16 and int32 (the index stores the text in the narrowest signed type)."""
    rng = random.Random(shift)
    train = "".join(rng.choice("abcd") for _ in range(400))
    sample = train[50:90] + "ddd" + train[300:330] + "abcdabcd"
    train_ids, sample_ids = encode_both(train, sample)
    lengths = NoveltyIndex.build(train_ids.astype(np.int64) + shift).matching_lengths(
        sample_ids.astype(np.int64) + shift
    )
    assert lengths.tolist() == brute_matching_lengths(train, sample)


def test_ids_never_seen_in_training_match_nothing():
    train_ids = np.array([0, 1, 2, 0, 1, 2], dtype=np.uint8)
    sample_ids = np.array([7, 0, 1, 7, 200, 2, 0], dtype=np.uint8)
    lengths = NoveltyIndex.build(train_ids).matching_lengths(sample_ids)
    assert lengths.tolist() == [0, 2, 1, 0, 0, 2, 1]


def test_empty_training_text_and_empty_sample():
    empty = NoveltyIndex.build(np.array([], dtype=np.uint8))
    assert len(empty) == 0
    assert empty.matching_lengths(np.array([1, 2, 3], dtype=np.uint8)).tolist() == [0, 0, 0]
    index = NoveltyIndex.build(np.array([1, 2, 3], dtype=np.uint8))
    assert index.matching_lengths(np.array([], dtype=np.uint8)).tolist() == []
    assert index.novelty(np.array([], dtype=np.uint8)) == Novelty(0, 0, 0.0, 10, 0)


# ---------------------------------------------------------------------------------------------
# planted copies


TRAIN = "".join(random.Random(2024).choice(string.ascii_lowercase + " ") for _ in range(4000))


def fence(length: int, seed: int) -> str:
    """Characters the training text never holds, so no match extends into them."""
    return "".join(random.Random(seed).choice("ABCDEFGH0123456789") for _ in range(length))


def novelty_of(sample: str, min_copy: int = 10) -> Novelty:
    train_ids, sample_ids = encode_both(TRAIN, sample)
    return NoveltyIndex.build(train_ids).novelty(sample_ids, min_copy=min_copy)


@pytest.mark.parametrize("k", [1, 5, 9, 10, 11, 23, 200])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_planted_copy_is_found_exactly(k, where):
    stretch = TRAIN[1234 : 1234 + k]
    before = {"start": 0, "middle": 37, "end": 60}[where]
    after = 60 - before
    sample = fence(before, 1) + stretch + fence(after, 2)
    result = novelty_of(sample)
    assert result.longest_copy == k
    assert result.longest_start == before
    assert result.longest_text(sample) == stretch
    assert result.sample_length == len(sample)
    assert result.copied_fraction == (k / len(sample) if k >= 10 else 0.0)


def test_two_planted_copies():
    first, second = TRAIN[100:112], TRAIN[3000:3030]  # 12 and 30 characters
    sample = fence(8, 3) + first + fence(20, 4) + second + fence(5, 5)
    result = novelty_of(sample)
    assert result.longest_copy == 30
    assert result.longest_start == 8 + 12 + 20
    assert result.copied_fraction == (12 + 30) / len(sample)


def test_adjacent_copies_from_different_places_are_counted_once():
    """Two stretches back to back: coverage is the union, not the sum of match lengths."""
    first, second = TRAIN[500:520], TRAIN[2500:2515]
    sample = fence(10, 6) + first + second + fence(10, 7)
    result = novelty_of(sample)
    assert result.longest_copy >= 20  # the first may run on into the second by chance
    assert result.copied_fraction == 35 / len(sample)


def test_nine_characters_are_not_a_copy_but_ten_are():
    nine, ten = TRAIN[700:709], TRAIN[1700:1710]
    sample_nine = fence(20, 8) + nine + fence(20, 9)
    sample_ten = fence(20, 8) + ten + fence(20, 9)
    assert novelty_of(sample_nine, min_copy=10).copied_fraction == 0.0
    assert novelty_of(sample_ten, min_copy=10).copied_fraction == 10 / len(sample_ten)
    assert novelty_of(sample_nine, min_copy=9).copied_fraction == 9 / len(sample_nine)
    both = fence(20, 8) + nine + fence(5, 10) + ten + fence(20, 9)
    assert novelty_of(both).copied_fraction == 10 / len(both)


def test_equal_copies_report_the_first():
    a, b = TRAIN[10:25], TRAIN[3500:3515]
    sample = fence(3, 11) + a + fence(4, 12) + b
    result = novelty_of(sample)
    assert (result.longest_copy, result.longest_start) == (15, 3)


def test_a_sample_with_no_copy():
    sample = fence(300, 13)  # none of its characters is in the training text
    result = novelty_of(sample)
    assert (result.longest_copy, result.longest_start, result.copied_fraction) == (0, 0, 0.0)
    assert result.describe(sample) == "nothing copied from the training text"


@settings(max_examples=200, deadline=None)
@given(data=st.data(), m=st.integers(0, 60), min_copy=st.integers(1, 12))
def test_copied_fraction_is_the_union_of_long_matches(data, m, min_copy):
    """novelty_from_lengths against a set union over any lengths L[i] <= m - i."""
    lengths = [data.draw(st.integers(0, m - i)) for i in range(m)]
    covered = set()
    for i, length in enumerate(lengths):
        if length >= min_copy:
            covered.update(range(i, i + length))
    result = novelty_from_lengths(np.array(lengths, dtype=np.int64), min_copy)
    assert result.copied_fraction == (len(covered) / m if m else 0.0)
    assert result.longest_copy == max(lengths, default=0)
    if m:
        assert result.longest_start == lengths.index(max(lengths))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_min_copy_must_be_a_positive_integer(bad):
    index = NoveltyIndex.build(np.array([1, 2], dtype=np.uint8))
    with pytest.raises(ValueError):
        index.novelty(np.array([1], dtype=np.uint8), min_copy=bad)


# ---------------------------------------------------------------------------------------------
# the one-line description and the log fields


SAMPLE_TEXT = "Ugh. and he was a vermin too, said she"  # [5:28] = "and he was a vermin too"


def test_describe_quotes_the_copy_and_the_share():
    result = Novelty(23, 5, 0.31, 10, len(SAMPLE_TEXT))
    assert result.longest_text(SAMPLE_TEXT) == "and he was a vermin too"
    assert result.describe(SAMPLE_TEXT, width=80) == (
        'longest copy 23 chars: "and he was a vermin too" · 31% in copies of 10+'
    )
    assert result.describe(SAMPLE_TEXT, width=59) == (
        'longest copy 23 chars: "and he was…" · 31% in copies of 10+'
    )


@pytest.mark.parametrize("width", range(0, 90, 3))
def test_describe_fits_its_width(width):
    text = "line one\nline two\twith a tab and then a long tail of words"
    line = Novelty(len(text), 0, 1.0, 10, len(text)).describe(text, width=width)
    assert len(line) <= width
    assert "\n" not in line and "\t" not in line


def test_describe_shows_newlines_and_never_rounds_to_0_or_100():
    text = "ab\ncd"
    assert Novelty(5, 0, 0.999, 10, 5).describe(text) == (
        'longest copy 5 chars: "ab⏎cd" · 99% in copies of 10+'
    )
    assert Novelty(1, 0, 0.001, 1, 5).describe(text) == (
        'longest copy 1 char: "a" · 1% in copies of 1+'
    )
    assert Novelty(3, 1, 0.0, 10, 5).describe(text) == (
        'longest copy 3 chars: "b⏎c" · 0% in copies of 10+'
    )


def test_to_log_carries_the_jsonl_fields():
    assert Novelty(23, 5, 0.25, 10, 100).to_log() == {"longest_copy": 23, "copied_fraction": 0.25}
