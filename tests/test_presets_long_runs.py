"""A budget of fifteen minutes or more picks the lstm preset's long-run model; less does not.

The long-run model is measured in docs/presets.md ("A preset that picks its size from the
budget"); these tests hold the rule, the notice that tells the user, and the documentation to it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import make_text

from rnn_tui.engine import PRESETS, preset
from rnn_tui.engine.config import LONG_RUN_MINUTES
from rnn_tui.tui.launch import prepare
from rnn_tui.tui.subcommands import train

REPO_ROOT = Path(__file__).resolve().parents[1]
# docs/presets.md, README (the long-run model was measured without the weight decay)
LONG = dict(hidden_size=384, dropout=0.3, dropout_from_epoch=0.0, weight_decay=0.0)


def differences(a, b) -> dict:
    return {
        f.name: getattr(b, f.name)
        for f in dataclasses.fields(a)
        if getattr(a, f.name) != getattr(b, f.name)
    }


@pytest.mark.parametrize("minutes", [LONG_RUN_MINUTES, 60.0])
def test_a_long_budget_widens_the_lstm_and_drops_units_from_the_start(minutes):
    assert differences(PRESETS["lstm"], preset("lstm", minutes=minutes)) == LONG


@pytest.mark.parametrize("minutes", [None, 5.0, LONG_RUN_MINUTES - 0.01])
def test_a_short_or_no_budget_keeps_the_lstm_preset(minutes):
    assert preset("lstm", minutes=minutes) == PRESETS["lstm"]


@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"lstm"}))
def test_the_other_presets_do_not_pick_from_the_budget(name):
    assert preset(name, minutes=60.0) == PRESETS[name]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(4000), encoding="utf-8")
    return path


def launched(corpus: Path, *options: str):
    run = corpus.parent / "run"
    return prepare(train.parser().parse_args([str(corpus), "--run-dir", str(run), *options]))


def test_rnn_tui_minutes_picks_the_long_run_model_and_says_so(corpus):
    launch = launched(corpus, "--preset", "lstm", "--minutes", "20", "--headless")
    assert differences(PRESETS["lstm"], launch.trainer.config) == LONG
    (notice,) = [line for line in launch.corpus_lines if "the lstm preset trains" in line]
    assert "2 x 384 LSTM with dropout 0.3" in notice and "--hidden-size" in notice
    # the model is built that size, not only labelled with it
    assert launch.trainer.params["Why"].shape[1] == 384
    assert launch.trainer.params["l1.Wh"].shape == (4 * 384, 384)


def test_settings_given_on_the_command_line_win_over_the_budgets_choice(corpus):
    launch = launched(
        corpus, "--preset", "lstm", "--minutes", "20", "--hidden-size", "256", "--dropout", "0.25"
    )
    config = launch.trainer.config
    assert (config.hidden_size, config.dropout, config.dropout_from_epoch) == (256, 0.25, 0.0)
    assert config.weight_decay == 0.0  # still the long-run model's, but for what was given
    everything = launched(
        corpus,
        "--preset", "lstm", "--minutes", "20", "--hidden-size", "256", "--dropout", "0.25",
        "--dropout-from-epoch", "4", "--weight-decay", "0.0125",
    )  # fmt: skip
    assert everything.trainer.config == PRESETS["lstm"]
    assert not [line for line in everything.corpus_lines if "the lstm preset trains" in line]


def test_a_five_minute_run_keeps_the_preset_and_says_nothing(corpus):
    launch = launched(corpus, "--preset", "lstm", "--minutes", "5")
    assert launch.trainer.config == PRESETS["lstm"]
    assert not [line for line in launch.corpus_lines if "preset trains" in line]


def test_the_docs_state_the_rule():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    docs = (REPO_ROOT / "docs/presets.md").read_text(encoding="utf-8")
    rule = f"{LONG_RUN_MINUTES:g} minutes or more"
    assert rule in readme and rule in docs
    for page in (readme, docs):
        assert "2×384" in page or "2 x 384" in page
        assert "dropout 0.3 from the start" in page
