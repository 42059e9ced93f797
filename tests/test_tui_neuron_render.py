"""Neuron-view renderers: the HTML page and terminal rows show the passage, its values, its guesses."""

from __future__ import annotations

import itertools
import math
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import make_text
from rich.cells import cell_len
from textual.color import Color

from rnn_tui.tui.neuron_render import (
    DEFAULT_COLOURS,
    levels,
    palette,
    palette_from_theme,
    render_ansi,
    render_html,
    value_colour,
    wants_colour,
)
from rnn_tui.tui.widgets.heatmap import LEVELS, RAMP, show_char

PASSAGE = make_text(240, seed=3) + "\n\tTab, <b>bold</b> & 'quotes' http://example.org/x\n"


def expected_level(value: float, kind: str) -> int:
    """The palette level written out: 9 steps over [-1, 1], or one per nat from 0 to 8."""
    if math.isnan(value):
        value = 0.0
    position = (value + 1.0) * 4.0 if kind == "activation" else value
    return int(min(max(round(position), 0), LEVELS - 1))


def activations(n: int, seed: int = 0) -> np.ndarray:
    return np.tanh(1.5 * np.random.default_rng(seed).standard_normal(n))


def fake_guesses(text: str) -> list[list[tuple[str, float]]]:
    """Seven (char, prob) guesses per position, best first; only five should be shown."""
    rng = np.random.default_rng(1)
    out = []
    for _ in text:
        probs = np.sort(rng.dirichlet(np.ones(7)))[::-1]
        chars = rng.choice(list("aeiou \nxyz<&"), size=7, replace=False)
        out.append([(str(c), float(p)) for c, p in zip(chars, probs, strict=True)])
    return out


class PageReader(HTMLParser):
    """Collects each character span's class, title and shown text, and the page's CSS and tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[dict] = []  # one per span with class "c"
        self.breaks_after: list[int] = []  # index of the cell a <br> follows
        self.tags: list[tuple[str, dict]] = []
        self.css = ""
        self.text_parts: list[str] = []
        self._depth_in_cell = 0
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "style":
            self._in_style = True
        if tag == "br" and self._depth_in_cell == 0:
            self.breaks_after.append(len(self.cells) - 1)
        if self._depth_in_cell:
            self._depth_in_cell += 1
        elif tag == "span" and "c" in attrs.get("class", "").split():
            self.cells.append({"class": attrs["class"], "title": attrs.get("title"), "text": ""})
            self._depth_in_cell = 1

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if self._depth_in_cell:
            self._depth_in_cell -= 1

    def handle_data(self, data):
        if self._in_style:
            self.css += data
        elif self._depth_in_cell:
            self.cells[-1]["text"] += data
        else:
            self.text_parts.append(data)


def read_page(page: str) -> PageReader:
    reader = PageReader()
    reader.feed(page)
    reader.close()
    return reader


def level_of_cell(cell: dict) -> int:
    (level,) = [int(c[1:]) for c in cell["class"].split() if c[:1] == "l" and c[1:].isdigit()]
    return level


def css_backgrounds(css: str) -> dict[int, str]:
    """.lN { background: #hex; ... } rules of the page, by level."""
    out = {}
    for rule in css.split("}"):
        selector, _, body = rule.partition("{")
        selector = selector.strip()
        if selector.startswith(".l") and selector[2:].isdigit():
            for decl in body.split(";"):
                name, _, value = decl.partition(":")
                if name.strip() == "background":
                    out[int(selector[2:])] = value.strip().upper()
    return out


# -- HTML ---------------------------------------------------------------------------------------


def test_html_holds_every_character_in_order_with_marks_and_line_breaks():
    values = activations(len(PASSAGE))
    page = render_html(PASSAGE, values, None, title="unit 7", unit_label="unit 7")
    reader = read_page(page)
    assert [cell["text"] for cell in reader.cells] == [show_char(ch) for ch in PASSAGE]
    newlines = [i for i, ch in enumerate(PASSAGE) if ch == "\n"]
    assert reader.breaks_after == newlines  # a line break right after every ⏎ mark, nowhere else


def test_html_colours_each_character_by_its_level():
    for kind, values in [
        ("activation", activations(len(PASSAGE), seed=2)),
        ("surprise", np.random.default_rng(3).uniform(0, 11, len(PASSAGE))),
    ]:
        values[5] = np.nan  # no value (the first character of a surprise passage): neutral
        reader = read_page(render_html(PASSAGE, values, None, title="t", unit_label="u", kind=kind))
        got = [level_of_cell(cell) for cell in reader.cells]
        assert got == [expected_level(v, kind) for v in values]
        backgrounds = css_backgrounds(reader.css)
        assert set(backgrounds) == set(range(LEVELS))
        for level in set(got):
            assert backgrounds[level] == palette(kind)[level].hex.upper()


def test_html_tooltip_shows_top_five_guesses_with_percentages_and_the_value():
    values = activations(len(PASSAGE), seed=4)
    guesses = fake_guesses(PASSAGE)
    reader = read_page(
        render_html(PASSAGE, values, guesses, title="t", unit_label="unit 12", kind="activation")
    )
    for position in (0, 17, len(PASSAGE) - 2):
        title = reader.cells[position]["title"]
        assert f"unit 12: {values[position]:+.3f}" in title
        shown = [f"{show_char(ch)}  {p * 100:.1f}%" for ch, p in guesses[position]]
        lines = title.split("\n")
        at = [lines.index("  " + s) for s in shown[:5]]
        assert at == sorted(at)  # best first
        assert "  " + shown[5] not in lines and "  " + shown[6] not in lines


def test_html_surprise_tooltip_and_legend():
    losses = np.array([np.nan, 0.0, 1.0, 2.5, 8.0, 12.0])
    page = render_html("abcdef", losses, None, title="surprise", unit_label="loss", kind="surprise")
    reader = read_page(page)
    assert "no value" in reader.cells[0]["title"]
    assert "loss: 2.50 nats (p = 8.2%)" in reader.cells[3]["title"]  # e^-2.5 = 0.0821
    legend = "".join(reader.text_parts)
    assert "0 nats" in legend and "8+ nats" in legend and "loss" in legend


def test_html_legend_has_the_scale_and_the_unit():
    page = render_html("ab", np.array([-1.0, 1.0]), None, title="T", unit_label="unit 42")
    reader = read_page(page)
    outside = "".join(reader.text_parts)
    assert "-1.00" in outside and "+0.00" in outside and "+1.00" in outside
    assert "unit 42" in outside
    swatches = [a["class"] for tag, a in reader.tags if "sw" in a.get("class", "").split()]
    assert len(swatches) == LEVELS


def test_html_is_self_contained_and_escaped():
    hostile = PASSAGE + '<script src="x.js"></script><link rel=x href="//cdn">'
    guesses = [[("<", 0.5), ('"', 0.3)]] * len(hostile)
    page = render_html(hostile, np.zeros(len(hostile)), guesses, title="a <b>", unit_label="u&v")
    lower = page.lower()
    for forbidden in ("http", "//", "<link", "<script", "src=", "url(", "@import"):
        assert forbidden not in lower, forbidden
    reader = read_page(page)
    assert "".join(cell["text"] for cell in reader.cells) == "".join(map(show_char, hostile))
    assert {tag for tag, _ in reader.tags} <= {
        "html", "head", "meta", "title", "style", "body", "h1", "p", "div", "span", "i", "br",
    }  # fmt: skip
    assert "a <b>" in "".join(reader.text_parts)
    assert all('  "  30.0%' in cell["title"].split("\n") for cell in reader.cells)
    # markup characters of the passage reach the page as entities, never as raw markup
    raw = render_html("<&>", np.zeros(3), None, title="t", unit_label="u")
    for entity in ("&lt;", "&amp;", "&gt;"):
        assert f">{entity}</span>" in raw


def test_html_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="values"):
        render_html("abc", np.zeros(2), None, title="t", unit_label="u")
    with pytest.raises(ValueError, match="guess"):
        render_html("abc", np.zeros(3), [[]], title="t", unit_label="u")
    with pytest.raises(ValueError, match="kind"):
        render_html("abc", np.zeros(3), None, title="t", unit_label="u", kind="loud")


# -- terminal -----------------------------------------------------------------------------------


def wrapped(text: str, width: int) -> list[str]:
    """The expected rows for one-cell characters: split after each newline, then cut at width."""
    rows = []
    for line in text.split("\n"):
        shown = "".join(show_char(ch) for ch in line)
        rows.append(shown + "⏎")
    rows[-1] = rows[-1][:-1]  # the last piece has no newline after it
    out = []
    for row in rows:
        out += [row[i : i + width] for i in range(0, len(row), width)]
    return out


@pytest.mark.parametrize("width", [1, 7, 40, 80])
def test_ansi_wraps_the_passage_to_width(width):
    text = PASSAGE.replace("\t", "")  # every character one cell wide
    lines = render_ansi(text, activations(len(text)), width=width, color=True)
    assert [line.plain for line in lines] == wrapped(text, width)
    plain_rows = render_ansi(text, activations(len(text)), width=width, color=False)[::2]
    assert [line.plain for line in plain_rows] == wrapped(text, width)


def test_ansi_colour_styles_present_and_merged_when_on_and_absent_when_off():
    values = activations(len(PASSAGE), seed=5)
    values[:6] = 0.9  # a planted run of one level: one span
    coloured = render_ansi(PASSAGE, values, width=50, color=True)
    level_list = [expected_level(v, "activation") for v in values]
    runs = 0
    cursor = 0
    for line in coloured:
        n = len(line.plain)
        row = level_list[cursor : cursor + n]
        runs += 1 + sum(a != b for a, b in itertools.pairwise(row))
        cursor += n
        for span in line.spans:
            assert span.style.bgcolor is not None
    assert sum(len(line.spans) for line in coloured) == runs
    assert coloured[0].spans[0].end - coloured[0].spans[0].start >= 6
    styles = {str(span.style) for line in coloured for span in line.spans}
    assert len(styles) <= LEVELS

    plain = render_ansi(PASSAGE, values, width=50, color=False)
    assert all(not line.spans and not line.style for line in plain)


def test_ansi_and_html_use_the_same_colours():
    values = activations(len(PASSAGE), seed=6)
    reader = read_page(render_html(PASSAGE, values, None, title="t", unit_label="u"))
    backgrounds = css_backgrounds(reader.css)
    html_colours = [backgrounds[level_of_cell(cell)] for cell in reader.cells]
    ansi_colours = []
    for line in render_ansi(PASSAGE, values, width=30, color=True):
        for span in line.spans:
            r, g, b = span.style.bgcolor.triplet
            ansi_colours += [f"#{r:02X}{g:02X}{b:02X}"] * (span.end - span.start)
    assert ansi_colours == html_colours


def test_ramp_rows_align_under_text_rows_and_follow_the_values_order():
    text = "wide 漢字 and\ttabs\nnext line " * 3
    values = np.random.default_rng(7).uniform(-1.2, 1.2, len(text))
    values[0], values[1] = -1.0, 1.0  # the ends of the scale
    lines = render_ansi(text, values, width=12, color=False)
    assert len(lines) % 2 == 0
    ramp_of: list[str] = []  # per character, the ramp character under its first cell
    for text_row, ramp_row in zip(lines[::2], lines[1::2], strict=True):
        assert cell_len(text_row.plain) == cell_len(ramp_row.plain) <= 12
        column = 0
        for ch in text_row.plain:
            ramp_of.append(ramp_row.plain[column])
            # a wide character's second cell has a blank under it
            assert ramp_row.plain[column + 1 : column + cell_len(ch)] == " " * (cell_len(ch) - 1)
            column += cell_len(ch)
    assert len(ramp_of) == len(text)
    darkness = [RAMP.index(r) for r in ramp_of]
    assert darkness[0] == 0 and darkness[1] == len(RAMP) - 1
    order = np.argsort(values, kind="stable")
    assert all(darkness[a] <= darkness[b] for a, b in itertools.pairwise(order))


def test_surprise_ramp_is_monotone_too():
    losses = np.random.default_rng(8).uniform(0, 10, 200)
    text = make_text(200, seed=9).replace("\n", " ")
    lines = render_ansi(text, losses, width=200, color=False, kind="surprise")
    darkness = [RAMP.index(r) for r in lines[1].plain]
    order = np.argsort(losses, kind="stable")
    assert all(darkness[a] <= darkness[b] for a, b in itertools.pairwise(order))
    assert darkness[int(np.argmin(losses))] == expected_level(losses.min(), "surprise")


# -- the palette --------------------------------------------------------------------------------


def test_palette_ends_and_middle_are_the_named_colours():
    diverging = palette("activation")
    assert diverging[0] == Color.parse(DEFAULT_COLOURS["negative"])
    assert diverging[LEVELS // 2] == Color.parse(DEFAULT_COLOURS["neutral"])
    assert diverging[-1] == Color.parse(DEFAULT_COLOURS["positive"])
    sequential = palette("surprise")
    assert sequential[0] == Color.parse(DEFAULT_COLOURS["neutral"])
    assert sequential[-1] == Color.parse(DEFAULT_COLOURS["surprising"])
    # sequential: each level is further from the neutral colour than the one before
    neutral = np.array(sequential[0].rgb, dtype=float)
    distance = [np.abs(np.array(c.rgb, dtype=float) - neutral).sum() for c in sequential]
    assert distance == sorted(distance) and len(set(distance)) == LEVELS
    assert value_colour(-5.0) == diverging[0] and value_colour(0.02) == diverging[LEVELS // 2]


def test_levels_match_the_written_out_quantisation():
    values = np.array([-3, -1, -0.9, -0.13, -0.12, 0, 0.12, 0.13, 0.5, 1, 7, np.nan])
    assert levels(values).tolist() == [expected_level(v, "activation") for v in values]
    losses = np.array([0, 0.49, 0.51, 3.2, 7.6, 20, np.nan, -1])
    assert levels(losses, "surprise").tolist() == [expected_level(v, "surprise") for v in losses]


def test_palette_from_theme_takes_the_theme_colours():
    variables = {"surface": "#101010", "primary": "#0000ff", "error": "#ff0000"}
    colours = palette_from_theme(variables)
    assert colours[0] == Color.parse("#0000ff") and colours[-1] == Color.parse("#ff0000")
    assert colours[LEVELS // 2] == Color.parse("#101010")
    # a variable the theme lacks falls back to the default
    assert palette_from_theme(variables, "surprise")[-1] == Color.parse(
        DEFAULT_COLOURS["surprising"]
    )


class FakeStream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_wants_colour_only_on_a_terminal_without_no_color():
    assert wants_colour(FakeStream(True), {})
    assert wants_colour(FakeStream(True), {"NO_COLOR": ""})  # empty means unset (no-color.org)
    assert not wants_colour(FakeStream(True), {"NO_COLOR": "1"})
    assert not wants_colour(FakeStream(False), {})
