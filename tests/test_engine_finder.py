"""The cell finder finds planted neurons; its correlations equal np.corrcoef; the span ranking
puts a planted span detector first; every text feature matches its definition.

The planted models are tiny tanh RNNs whose weights are set by hand (construction in each
builder's docstring). Their units saturate at +-tanh(K) with K = 10, i.e. within 5e-9 of +-1,
so they compute their Boolean functions exactly; the tests check that too, before asking the
finder to rediscover them among every unit and every registered feature.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from rnn_tui.engine import CharModel, Config, Vocab
from rnn_tui.engine.features import FEATURES, char_test, feature, feature_matrix
from rnn_tui.engine.finder import (
    CellMatch,
    correlate,
    correlation_table,
    find_cells,
    rank_span,
    span_mask,
    standardise,
)
from rnn_tui.engine.probe import ProbeCancelled, trace

K = 10.0  # pre-activation margin of the planted logic units: tanh(+-10) = +-(1 - 4e-9)


def planted_model(vocab: Vocab, hidden: int, layers: int) -> tuple[CharModel, dict]:
    """A tanh-RNN CharModel with every parameter zero, float64, for a builder to fill in."""
    config = Config(cell="rnn", hidden_size=hidden, num_layers=layers, dtype="float64")
    model = CharModel(config, len(vocab))
    return model, {n: np.zeros(s) for n, s in model.param_shapes().items()}


def input_columns(vocab: Vocab, chars) -> np.ndarray:
    """(V,) 1.0 on the ids of `chars`: a row of Wxh that reads 'x_t is one of these'."""
    row = np.zeros(len(vocab))
    row[[vocab.index[c] for c in chars if c in vocab.index]] = 1.0
    return row


def quote_model(vocab: Vocab) -> tuple[CharModel, dict]:
    """Layer 1, unit 0 is +1 inside double quotes and -1 outside, exactly (no delay).

    Inside-after-t is (quote at t) XOR (inside after t-1). One tanh unit cannot compute that
    from x_t and h_{t-1}: with any state encoding it would need a_quote + b_in < 0,
    a_quote + b_out > 0, a_other + b_in > 0, a_other + b_out < 0, and the first and last sum to
    the same as the middle two. So layer 0 runs the two-state automaton one-hot over
    (state after t, kind of x_t) pairs, where each unit is an AND (linearly separable):

        unit 0 (in, quote)   on iff x_t = '"' and the state before was out
        unit 1 (in, other)   on iff x_t != '"' and the state before was in
        unit 2 (out, quote)  on iff x_t = '"' and the state before was in
        unit 3 (out, other)  on iff x_t != '"' and the state before was out

    Exactly one is +1, the others -1, so s = u2 + u3 is 0 after an "out" step and -2 after an
    "in" step, and the zero initial state also has s = 0: it reads as "out", as it should.
    A unit needing "before was out" gets K (2 [x_t matches] + s - 1), "before was in"
    K (2 [x_t matches] - s - 3): +K when both conditions hold, <= -K otherwise. Layer 1 reads
    layer 0 at the same step: unit 0 = tanh(K (-u2 - u3 - 1)) is +K inside, -K outside.
    Every other unit has zero weights and stays exactly 0 (no variance: r must be 0).
    """
    model, p = planted_model(vocab, hidden=6, layers=2)
    quote = input_columns(vocab, '"')
    other = 1.0 - quote
    for unit, (reads, before_out) in enumerate(
        [(quote, True), (other, False), (quote, False), (other, True)]
    ):
        p["l0.Wxh"][unit] = 2 * K * reads
        p["l0.Whh"][unit, [2, 3]] = K if before_out else -K
        p["l0.bh"][unit] = -K if before_out else -3 * K
    p["l1.Wxh"][0, [2, 3]] = -K
    p["l1.bh"][0] = -K
    return model, p


LINE_UNITS = 40  # longest line the line-position model counts exactly


def line_model(vocab: Vocab) -> tuple[CharModel, dict]:
    """Layer 1, unit 0 ramps with the characters since the last newline and resets on it.

    Layer 0 is a thermometer code of P_t = line_position(t) (0 on a newline, +1 per character
    after it): unit j - 1 (j = 1..LINE_UNITS) is +1 iff P_t >= j. That is an AND, so one step:
    P_t >= j iff x_t != newline and P_{t-1} >= j - 1, i.e. unit j - 2 was on; for j = 1 just
    x_t != newline. Pre-activations K (2 [x_t != nl] + 2 u_{j-2} - 3) and K (2 [x_t != nl] - 1):
    +K when the conditions hold, <= -K otherwise, and the zero initial state (u = 0) gives -K:
    nothing counted before the text starts, as line_position's definition says.
    Layer 1 unit 0 = tanh(e/2 sum_j u_j) = tanh(e (min(P_t, J) - J/2)) with e = 1/J: a ramp
    from tanh(-0.5) to tanh(0.5), nearly straight (its correlation with a straight line over
    0..J is above 0.999) and dropping back to the bottom on every newline.
    """
    J = LINE_UNITS
    model, p = planted_model(vocab, hidden=J, layers=2)
    not_newline = 1.0 - input_columns(vocab, "\n")
    p["l0.Wxh"][:] = 2 * K * not_newline
    p["l0.bh"][0] = -K
    p["l0.bh"][1:] = -3 * K
    p["l0.Whh"][np.arange(1, J), np.arange(J - 1)] = 2 * K  # unit j-1 reads unit j-2
    p["l1.Wxh"][0] = 0.5 / J
    return model, p


WORDS = ("the", "cat", "sat", "on", "a", "mat", "Yes", "NO", "42", "(aside)", "[note]", "x_1")


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def quote_rich_text(chars: int, seed: int = 0) -> str:
    """Prose of the words above, about half of it inside "quoted passages", with newlines."""
    rng = random.Random(seed)
    parts = []
    while sum(map(len, parts)) < chars:
        parts.append(words(rng, 2, 8) + rng.choice((" ", "\n")))
        parts.append('"' + words(rng, 2, 8) + '"' + rng.choice((" ", "\n", ", ")))
    return "".join(parts)[:chars]


def varied_lines_text(chars: int, seed: int = 0) -> str:
    """Lines of 0 to LINE_UNITS characters (words and spaces), some empty."""
    rng = random.Random(seed)
    lines = []
    while sum(len(x) + 1 for x in lines) < chars:
        lines.append(words(rng, 1, 10)[: rng.randint(0, LINE_UNITS)])
    return "\n".join(lines)[:chars]


def traced(model_builder, text):
    vocab = Vocab.from_text(text)
    model, params = model_builder(vocab)
    return trace(model, params, vocab.encode(text))


# -- planted neurons --------------------------------------------------------------------------


def test_finder_ranks_a_planted_quote_unit_first():
    text = quote_rich_text(6000)
    tr = traced(quote_model, text)
    inside = FEATURES["in_quotes"].compute(text)
    unit = tr.signal(1, "h")[:, 0]
    # the construction is exact: the unit's sign is the feature at every position
    assert np.all(np.abs(unit) > 1 - 1e-6)
    assert np.array_equal(unit > 0, inside == 1)

    matches = find_cells(tr, text)
    best = matches[0]
    assert (best.layer, best.signal, best.unit, best.feature) == (1, "h", 0, "in_quotes")
    assert best.r > 0.99
    assert all(abs(m.r) < best.r for m in matches[1:] if m.feature != "in_quotes")
    # the dead units (zero weights, exactly 0 everywhere) correlate with nothing, and no r is NaN
    assert np.isfinite([m.r for m in matches]).all()
    assert all(m.r == 0.0 for m in matches if m.unit >= 4 or (m.layer == 1 and m.unit >= 1))


def test_finder_ranks_a_planted_line_position_unit_first():
    text = varied_lines_text(6000)
    tr = traced(line_model, text)
    position = FEATURES["line_position"].compute(text)
    assert position.max() <= LINE_UNITS
    unit = tr.signal(1, "h")[:, 0]
    want = np.tanh((position - LINE_UNITS / 2) / LINE_UNITS)  # the construction, exactly
    np.testing.assert_allclose(unit, want, rtol=0, atol=1e-6)

    matches = find_cells(tr, text, top=20)
    best = matches[0]
    assert (best.layer, best.signal, best.unit, best.feature) == (1, "h", 0, "line_position")
    assert best.r > 0.99
    assert all(abs(m.r) < best.r for m in matches[1:] if m.feature != "line_position")


# -- correlations -----------------------------------------------------------------------------


def test_correlate_equals_corrcoef_and_gives_zero_for_constant_columns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 6))
    x[:, 1] = 3 * x[:, 0] + rng.standard_normal(500) * 0.1  # strongly related columns too
    f = np.column_stack([rng.random(500), x[:, 1] ** 2, (x[:, 2] > 0).astype(float)])
    r = correlate(x, f)
    for i in range(6):
        for j in range(3):
            assert r[i, j] == pytest.approx(np.corrcoef(x[:, i], f[:, j])[0, 1], abs=1e-12)
    # constant columns give exactly zero, also 1/3, whose mean over 500 rows is off by rounding
    # (x - mean is +-5.6e-17, not 0: scaled to unit norm it would be a +-1 pattern of noise)
    x[:, 3] = 1 / 3
    assert np.any(x[:, 3] - x[:, 3].mean() != 0)
    x[:, 4] = 0.0
    f[:, 0] = 7.0
    r = correlate(x, f)
    assert np.all(r[3] == 0) and np.all(r[4] == 0) and np.all(r[:, 0] == 0)
    assert np.isfinite(r).all()
    z = standardise(x)
    np.testing.assert_allclose(np.linalg.norm(z[:, [0, 1, 2, 5]], axis=0), 1.0)


def test_find_cells_r_equals_corrcoef_on_the_traced_columns():
    text = quote_rich_text(1500, seed=3)
    vocab = Vocab.from_text(text)
    config = Config(cell="lstm", hidden_size=7, num_layers=2, init_scale=0.5)
    model = CharModel(config, len(vocab))
    tr = trace(model, model.init_params(np.random.default_rng(4)), vocab.encode(text))
    matches = find_cells(tr, text)
    assert len(matches) == 2 * 2 * 7 * len(FEATURES)  # (layer, h|c, unit) x feature
    assert [abs(m.r) for m in matches] == sorted((abs(m.r) for m in matches), reverse=True)
    by_key = {(m.layer, m.signal, m.unit, m.feature): m.r for m in matches}
    for layer, signal, unit, name in [(0, "h", 3, "in_quotes"), (1, "c", 6, "line_position"),
                                      (1, "h", 0, "vowel"), (0, "c", 1, "bracket_depth")]:  # fmt: skip
        column = tr.signal(layer, signal)[:, unit]
        want = np.corrcoef(column, FEATURES[name].compute(text))[0, 1]
        assert by_key[(layer, signal, unit, name)] == pytest.approx(want, abs=1e-10)


def test_find_cells_options_top_features_and_signals():
    text = quote_rich_text(800, seed=5)
    vocab = Vocab.from_text(text)
    model = CharModel(Config(cell="gru", hidden_size=4, init_scale=0.5), len(vocab))
    tr = trace(model, model.init_params(np.random.default_rng(6)), vocab.encode(text))
    all_matches = find_cells(tr, text)  # a GRU has no c: only h is searched
    assert {m.signal for m in all_matches} == {"h"}
    assert find_cells(tr, text, top=5) == all_matches[:5]
    chosen = find_cells(tr, text, features=["digit", "vowel"], signals=("h", "z"))
    assert {m.feature for m in chosen} == {"digit", "vowel"}
    assert {m.signal for m in chosen} == {"h", "z"} and len(chosen) == 2 * 2 * 4
    assert isinstance(chosen[0], CellMatch)
    with pytest.raises(ValueError, match="characters"):
        find_cells(tr, text[:-1])
    with pytest.raises(KeyError, match="unknown feature"):
        find_cells(tr, text, features=["no_such_feature"])


def test_progress_is_reported_per_block_and_abort_cancels():
    text = quote_rich_text(300, seed=7)
    vocab = Vocab.from_text(text)
    model = CharModel(Config(cell="lstm", hidden_size=3, num_layers=2), len(vocab))
    tr = trace(model, model.init_params(np.random.default_rng(8)), vocab.encode(text))
    seen: list[float] = []
    find_cells(tr, text, progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]  # (layer, h|c) blocks
    polls = []
    with pytest.raises(ProbeCancelled):
        find_cells(tr, text, should_abort=lambda: polls.append(1) or len(polls) == 3)
    assert len(polls) == 3
    with pytest.raises(ProbeCancelled):
        rank_span(tr, text, 0, 3, should_abort=lambda: True)


# -- span ranking -----------------------------------------------------------------------------


def digit_model(vocab: Vocab, seed: int = 0) -> tuple[CharModel, dict]:
    """One layer of 6: unit 0 is +1 exactly on digits, unit 1 exactly on '1' (a decoy that fires
    on part of a year), units 2-5 random (noise)."""
    model, p = planted_model(vocab, hidden=6, layers=1)
    rng = np.random.default_rng(seed)
    p["Wxh"][2:] = rng.standard_normal((4, len(vocab)))
    p["Whh"][2:] = rng.standard_normal((4, 6)) * 0.5
    p["Wxh"][0] = 2 * K * input_columns(vocab, "0123456789")
    p["bh"][0] = -K
    p["Wxh"][1] = 2 * K * input_columns(vocab, "1")
    p["bh"][1] = -K
    return model, p


def prose_with(years, chars: int, seed: int) -> str:
    rng = random.Random(seed)
    plain = [w for w in WORDS if not any(c.isdigit() for c in w)]
    parts = []
    while sum(map(len, parts)) < chars:
        parts.append(" ".join(rng.choice(plain) for _ in range(rng.randint(2, 9))))
        parts.append(rng.choice(years))
    return " ".join(parts)


def test_rank_span_puts_a_unit_firing_only_on_the_marked_substring_first():
    text = prose_with(["1984"], 3000, seed=9)  # the only digits are the years
    tr = traced(digit_model, text)
    start = text.index("1984")
    ranked = rank_span(tr, text, start, start + 4)
    best = ranked[0]
    assert (best.layer, best.signal, best.unit) == (0, "h", 0)
    assert best.r > 0.99
    assert best.mean_inside == pytest.approx(1.0, abs=1e-6)
    assert best.mean_outside == pytest.approx(-1.0, abs=1e-6)
    decoy = next(m for m in ranked if m.unit == 1)
    assert 0 < decoy.r < 0.9 * best.r
    mask = span_mask(text, start, start + 4)
    assert mask.sum() == 4 * text.count("1984")
    want = np.corrcoef(tr.signal(0, "h")[:, 1], mask)[0, 1]
    assert decoy.r == pytest.approx(want, abs=1e-10)
    assert rank_span(tr, text, start, start + 4, top=2) == ranked[:2]


def test_rank_span_pattern_matches_text_like_the_span():
    """With two different years in the text, the digit unit fits the character-class pattern
    of "1984" (four digits) exactly, and the substring hypothesis only partly."""
    text = prose_with(["1984", "2001", "7777"], 3000, seed=10)
    tr = traced(digit_model, text)
    start = text.index("1984")
    by_pattern = rank_span(tr, text, start, start + 4, match="pattern")
    assert (by_pattern[0].unit, by_pattern[0].signal) == (0, "h")
    assert by_pattern[0].r > 0.99
    by_substring = {m.unit: m.r for m in rank_span(tr, text, start, start + 4)}
    assert by_substring[0] < 0.8


def test_span_mask_cases():
    def shown(mask):
        return "".join("x" if m else "." for m in mask)

    assert shown(span_mask("abcabxabc", 0, 3)) == "xxx...xxx"
    assert shown(span_mask("aaaa", 0, 2)) == "xxxx"  # overlapping occurrences
    assert shown(span_mask("abcabxabc", 6, 9, match="span")) == "......xxx"
    assert shown(span_mask("Tom met Ann, 1984.", 0, 3, match="pattern")) == "xxx.....xxx......."
    assert shown(span_mask("in 1984 or 20011", 3, 7, match="pattern")) == "...xxxx....xxxxx"
    with pytest.raises(ValueError):
        span_mask("abc", 2, 2)
    with pytest.raises(ValueError):
        span_mask("abc", 0, 1, match="regex")


def test_correlation_table_rows_are_units_in_order():
    text = quote_rich_text(200, seed=11)
    tr = traced(quote_model, text)
    names, columns = feature_matrix(text, ["in_quotes"])
    table = correlation_table(tr, columns, names, ("h",))
    assert table.units == tuple((k, "h", u) for k in range(2) for u in range(6))
    assert table.r.shape == (12, 1) and table.columns == ("in_quotes",)


# -- features ---------------------------------------------------------------------------------


def column(name: str, text: str) -> list[int]:
    values = FEATURES[name].compute(text)
    assert values.shape == (len(text),) and values.dtype == np.float64
    return values.astype(int).tolist()


@pytest.mark.parametrize(
    "name,text,expected",
    [
        ("in_quotes", 'a "b" c', [0, 0, 1, 1, 0, 0, 0]),
        ("in_quotes", 'x "yz', [0, 0, 1, 1, 1]),  # unclosed: inside to the end
        ("in_quotes", '""', [1, 0]),
        ("bracket_depth", "f(a[b]{c})", [0, 1, 1, 2, 2, 1, 2, 2, 1, 0]),
        ("bracket_depth", ")a(()))(", [0, 0, 1, 2, 1, 0, 0, 1]),  # stray closers ignored
        ("bracket_depth", "((]", [1, 2, 1]),  # kinds are not matched
        ("in_brackets", "a(b)c", [0, 1, 1, 0, 0]),
        ("line_position", "ab\ncde\n\nf", [1, 2, 0, 1, 2, 3, 0, 0, 1]),
        ("line_position", "a\r\nb", [1, 2, 0, 1]),  # '\r' is an ordinary character
        ("line_remaining", "ab\ncde\n\nf", [1, 0, 3, 2, 1, 0, 0, 1, 0]),
        ("line_remaining", "abc", [2, 1, 0]),  # the end of the text ends the line
        ("word_position", "hi, you2 x_y", [1, 2, 0, 0, 1, 2, 3, 4, 0, 1, 2, 3]),
        ("word_position", "é-ü", [1, 0, 1]),
        ("word_start", "hi, you2 x_y", [1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]),
        ("upper", "aB Ç1", [0, 1, 0, 1, 0]),
        ("digit", "a1 9x0", [0, 1, 0, 1, 0, 1]),
        ("vowel", "bAeyU!", [0, 1, 1, 0, 1, 0]),
        ("punctuation", "a, b! (c)-_$+", [0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0]),
        ("whitespace", "a b\tc\nd", [0, 1, 0, 1, 0, 1, 0]),
        ("indentation", "  ab\n    c\nd", [1, 2, 2, 2, 0, 1, 2, 3, 4, 4, 0, 0]),
        ("indentation", "\t x\n \tb", [0, 0, 0, 0, 1, 1, 1]),  # a tab ends the indentation
        ("indentation", "   ", [1, 2, 3]),
    ],
)
def test_feature_on_hand_made_strings(name, text, expected):
    assert column(name, text) == expected


def plain_features(text: str) -> dict[str, list[int]]:
    """Every feature by the definitions, one character at a time."""
    out: dict[str, list[int]] = {name: [] for name in FEATURES}
    quotes = depth = word = 0
    line_start = 0  # index of the first character of the current line
    for t, c in enumerate(text):
        quotes += c == '"'
        depth = depth + 1 if c in "([{" else max(depth - 1, 0) if c in ")]}" else depth
        is_word = c.isalnum() or c == "_"
        word = word + 1 if is_word else 0
        if c == "\n":
            line_start = t + 1
        rest = text.find("\n", t + 1)
        line = text[line_start : t + 1]
        indent = len(line) - len(line.lstrip(" "))  # leading spaces read so far
        values = {
            "in_quotes": quotes % 2,
            "bracket_depth": depth,
            "in_brackets": depth > 0,
            "line_position": t + 1 - line_start if c != "\n" else 0,
            "line_remaining": (len(text) if rest == -1 else rest) - t - 1,
            "word_position": word,
            "word_start": word == 1,
            "upper": c.isupper(),
            "digit": c in "0123456789",
            "vowel": c in "aeiouAEIOU",
            "punctuation": c in ".,;:!?'\"-()[]{}_",  # the only P* characters in the alphabet
            "whitespace": c.isspace(),
            "indentation": indent,
        }
        for name in FEATURES:
            out[name].append(int(values[name]))
    return out


ALPHABET = 'ab Z9 \n\n    ()[]{}"".,;:!?\'-_\t$+'


@pytest.mark.parametrize("seed", range(5))
def test_features_equal_a_plain_character_loop(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(ALPHABET) for _ in range(400))
    want = plain_features(text)
    assert set(FEATURES) == set(want), "a feature without a plain reference here"
    for name in FEATURES:
        assert column(name, text) == want[name], name


def test_every_feature_is_registered_with_a_description_and_handles_empty_text():
    assert len(FEATURES) >= 12
    for name, f in FEATURES.items():
        assert f.name == name and f.label and f.description
        assert f.compute("").shape == (0,)
    names, matrix = feature_matrix("")
    assert matrix.shape == (0, len(FEATURES)) and names == tuple(FEATURES)


def test_registering_a_feature_twice_or_without_a_docstring_is_refused():
    with pytest.raises(ValueError, match="already registered"):

        @feature("again")
        def in_quotes(text):
            """Duplicate."""
            return np.zeros(len(text))

    with pytest.raises(ValueError, match="docstring"):

        @feature("undocumented")
        def undocumented(text):
            return np.zeros(len(text))

    assert "undocumented" not in FEATURES


def test_char_test_evaluates_per_character():
    assert char_test("aXbY", str.isupper).tolist() == [False, True, False, True]
