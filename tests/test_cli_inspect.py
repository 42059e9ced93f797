"""`rnn-tui inspect`: the finder's table, a unit's ramp and the HTML page, each checked against
numbers computed here (the validation split taken by hand, the model stepped one character at a
time), and the HTML parsed back. Bad inputs are in tests/test_cli_bad_inputs.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_tui_microscope import TEXT

from rnn_tui.engine import Config, Trainer, load_model
from rnn_tui.engine.finder import find_cells
from rnn_tui.engine.probe import trace
from rnn_tui.tui.cli import main as cli_main
from rnn_tui.tui.neuron_render import levels
from rnn_tui.tui.widgets.heatmap import RAMP

WARMUP = 500


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    """A checkpoint of a small lstm trained on a corpus file recorded by its path."""
    folder = tmp_path_factory.mktemp("inspect")
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    config = Config(
        cell="lstm",
        num_layers=2,
        hidden_size=12,
        seq_length=16,
        sample_every=0,
        val_every=0,
        init_scale=0.3,
    )
    trainer = Trainer(config, TEXT, corpus_name=str(corpus))
    for _ in range(30):
        trainer.train_step()
    return trainer.save(folder / "model.npz"), corpus


def validation(text: str, fraction: float) -> tuple[str, str]:
    """The validation text and the WARMUP characters before it, split by hand."""
    n_val = int(len(text) * fraction)
    start = len(text) - n_val
    return text[start : start + 20_000], text[max(0, start - WARMUP) : start]


def stepwise(saved, text: str, warmup: str):
    """h per layer, c, and next-character probabilities, one model.step at a time."""
    model, params, vocab = saved.model, saved.params, saved.vocab
    state = model.initial_state(1)
    for ch in warmup:
        _, state = model.step(params, np.array([vocab.index[ch]]), state)
    states, probs = [], []
    for ch in text:
        logits, state = model.step(params, np.array([vocab.index[ch]]), state)
        states.append(state[:, :, 0].copy())
        z = logits[0].astype(np.float64)
        p = np.exp(z - z.max())
        probs.append(p / p.sum())
    return np.array(states), np.array(probs)


def test_find_cells_prints_the_finders_ranking_of_the_validation_text(run, capsys):
    path, _ = run
    assert cli_main(["inspect", str(path), "--find-cells", "--top", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "signal", "unit", "feature", "r"]
    rows = [line.split() for line in lines[1:]]
    saved = load_model(path)
    passage, warmup = validation(TEXT, saved.config.val_fraction)
    vocab = saved.vocab
    expected = find_cells(
        trace(
            saved.model,
            saved.params,
            vocab.encode(passage).astype(np.intp),
            vocab.encode(warmup).astype(np.intp),
            keep=("h", "c"),
        ),
        passage,
        top=7,
    )
    assert rows == [
        [str(m.layer), m.signal, str(m.unit), m.feature, f"{m.r:+.3f}"] for m in expected
    ]


def test_unit_without_a_terminal_prints_each_row_with_its_ramp_underneath(run, capsys):
    path, _ = run
    assert cli_main(["inspect", str(path), "--unit", "3", "--layer", "1", "--chars", "300"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("h[3] layer 1")
    body = out[2:]
    saved = load_model(path)
    passage, warmup = validation(TEXT, saved.config.val_fraction)
    states, _ = stepwise(saved, passage[:300], warmup)
    marks = {" ": "·", "\n": "⏎"}
    shown = "".join(body[0::2])
    assert shown == "".join(marks.get(c, c) for c in passage[:300])
    ramp = "".join(row.ljust(len(text)) for text, row in zip(body[0::2], body[1::2], strict=True))
    assert ramp == "".join(RAMP[level] for level in levels(states[:, 1, 0, 3]))


class Page(HTMLParser):
    """Every character span of the passage with its tooltip; every attribute value."""

    def __init__(self) -> None:
        super().__init__()
        self.chars: list[tuple[str, str]] = []
        self.attributes: list[str] = []
        self._open: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.attributes += [v or "" for v in values.values()]
        if tag == "span" and "c" in (values.get("class") or "").split():
            self._open, self._text = values.get("title") or "", ""

    def handle_data(self, data):
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.chars.append((self._text, self._open))
            self._open = None


def test_html_holds_every_character_and_the_top_guesses_and_loads_nothing(run, tmp_path, capsys):
    path, _ = run
    out = tmp_path / "neuron.html"
    assert cli_main(["inspect", str(path), "--html", str(out), "--unit", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    parsed = Page()
    parsed.feed(page)
    saved = load_model(path)
    passage, warmup = validation(TEXT, saved.config.val_fraction)
    shown = passage[:2000]
    marks = {" ": "·", "\n": "⏎"}
    assert [text for text, _ in parsed.chars] == [marks.get(c, c) for c in shown]
    states, probs = stepwise(saved, shown, warmup)
    for t in (0, 123, len(shown) - 1):
        tip = parsed.chars[t][1]
        assert f"h[2] layer 0: {states[t, 0, 0, 2]:+.3f}" in tip
        guesses = re.findall(r"^  (.)  ([\d.]+)%$", tip, flags=re.M)
        order = np.argsort(-probs[t], kind="stable")[:5]
        assert [g for g, _ in guesses] == [marks.get(c, c) for c in saved.vocab.decode(order)]
        assert [float(p) for _, p in guesses] == pytest.approx(100 * probs[t, order], abs=0.051)
    # self-contained: no URL anywhere, no script, no external stylesheet or font
    assert not re.search(r"https?:|//[a-z]|@import|url\(|<script|<link", page, flags=re.I)
    assert not any(a.startswith(("http", "//")) for a in parsed.attributes)
    # written by us, so writing it again is allowed
    assert cli_main(["inspect", str(path), "--html", str(out)]) == 0
    assert "surprise" in out.read_text(encoding="utf-8")


def test_text_file_is_probed_instead_of_the_validation_text(run, tmp_path, capsys):
    path, _ = run
    mine = tmp_path / "mine.txt"
    mine.write_text('"the cat," he said.\n', encoding="utf-8")
    assert cli_main(["inspect", str(path), "--text", str(mine), "--unit", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "file mine.txt" in out[0]
    assert out[2] == '"the·cat,"·he·said.⏎'
