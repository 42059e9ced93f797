"""Each setting is declared once on Config: validation, --help, the dashboard's inputs and the
live set all come from that declaration, and a value is judged the same way everywhere."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from rnn_tui.engine import LIVE_HPARAMS, SETTINGS, Config, ConfigError, Trainer, preset
from rnn_tui.engine.config import TYPES, parse
from rnn_tui.tui.cli import main
from rnn_tui.tui.options import flag, setting_help
from rnn_tui.tui.subcommands import train
from rnn_tui.tui.widgets import HyperparameterPanel

TEXT = "the cat sat on the mat. " * 200


def out_of_range(name: str):
    """A value just outside the declared range of a numeric setting (None if unbounded)."""
    spec = SETTINGS[name]
    if spec.high is not None:
        return spec.high if spec.high_open else spec.high + (1 if TYPES[name] is int else 1e-3)
    if spec.low is not None:
        return spec.low if spec.low_open else spec.low - 1
    return None


@pytest.mark.parametrize("name", list(SETTINGS))
def test_an_invalid_config_cannot_be_constructed(name):
    spec = SETTINGS[name]
    bad = "no-such-choice" if spec.choices else out_of_range(name)
    assert bad is not None, f"{name} declares no range"
    with pytest.raises(ConfigError, match=name):
        Config(**{name: bad})
    with pytest.raises(ConfigError, match=name):
        dataclasses.replace(Config(), **{name: bad})  # not only through Config.replace
    with pytest.raises(ConfigError, match=name):
        Config.from_dict({**Config().to_dict(), name: bad})


BOUNDED = [name for name, spec in SETTINGS.items() if spec.low is not None or spec.high is not None]


@pytest.mark.parametrize("name", BOUNDED)
def test_both_ends_of_every_range_are_where_the_declaration_puts_them(name):
    """A closed end is accepted and the value beyond it refused; an open end is itself refused."""
    spec, kind = SETTINGS[name], TYPES[name]
    step = 1 if kind is int else 1e-3
    for end, beyond, is_open in (
        (spec.low, -step, spec.low_open),
        (spec.high, step, spec.high_open),
    ):
        if end is None:
            continue
        with pytest.raises(ConfigError, match=name):
            Config(**{name: end if is_open else end + beyond})
        inside = end - beyond if is_open else end
        assert getattr(Config(**{name: kind(inside)}), name) == kind(inside)


def test_non_numbers_and_non_finite_numbers_are_refused():
    for value in ("3", True, None, math.nan, math.inf):
        with pytest.raises(ConfigError, match="hidden_size"):
            Config(hidden_size=value)
    with pytest.raises(ConfigError, match="learning_rate must be a finite number"):
        Config(learning_rate=math.inf)
    assert Config(hidden_size=64.0).hidden_size == 64  # a whole float is a whole number
    assert type(Config(hidden_size=64.0).hidden_size) is int


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_is_in_help_with_its_range_and_default(name, capsys):
    with pytest.raises(SystemExit):
        train.parser("rnn-tui").parse_args(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert flag(name) in shown
    assert " ".join(setting_help(name).replace("%%", "%").split()) in shown
    spec = SETTINGS[name]
    for word in (spec.help, spec.describe_range() if not spec.choices else spec.choices[0]):
        assert word in setting_help(name)
    default = Config().to_dict()[name]
    shown_default = f"{default:g}" if TYPES[name] is float else str(default)
    assert f"default {shown_default}" in setting_help(name)


def test_top_level_help_lists_the_subcommands_with_an_example(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("train", "sample", "corpora"):
        assert f"  {name} " in out
    assert out.count("e.g. rnn-tui") >= 3


def test_the_live_set_is_the_settings_declared_live():
    assert set(LIVE_HPARAMS) == {name for name, spec in SETTINGS.items() if spec.live}
    assert {"learning_rate", "temperature", "clip"} <= set(LIVE_HPARAMS)


async def test_the_dashboard_has_one_input_per_live_setting_labelled_by_its_declaration(tmp_path):
    from rnn_tui.tui.app import make_app

    trainer = Trainer(
        Config(hidden_size=16, seq_length=8), TEXT, checkpoint_path=tmp_path / "c.npz"
    )
    app = make_app(trainer, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.dashboard.query_one(HyperparameterPanel)
        labels = [str(label.render()) for label in panel.query(".hp-label")]
        assert labels == [SETTINGS[name].label or name for name in LIVE_HPARAMS]
        for name in LIVE_HPARAMS:
            assert SETTINGS[name].help in str(panel.input_for(name).tooltip)
        await pilot.press("q")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("learning_rate", "0"),
        ("learning_rate", "fast"),
        ("learning_rate", "1e9"),
        ("clip", "-1"),
        ("sample_length", "2.5"),
        ("sample_every", "-3"),
        ("temperature", "nan"),
    ],
)
def test_a_value_is_refused_with_the_same_message_on_the_command_line_and_in_the_dashboard(
    name, text, capsys
):
    with pytest.raises(ConfigError) as typed:
        parse(name, text)
    message = str(typed.value)
    # the dashboard's input goes through the run's update(), which validates in the caller
    trainer = Trainer(Config(hidden_size=8, seq_length=8), TEXT)
    with pytest.raises(ConfigError) as live:
        trainer.update(**{name: text})
    assert str(live.value) == message
    assert trainer.config == Config(hidden_size=8, seq_length=8)  # nothing queued or changed
    # the command line
    assert main(["train", "--headless", f"{flag(name)}={text}", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_values_accepted_by_the_parser_are_the_values_the_config_holds():
    assert parse("hidden_size", "128") == 128
    assert parse("seed", str(2**63 - 1)) == 2**63 - 1  # exact, not through a float
    assert parse("learning_rate", " 1e-3 ") == 0.001
    assert (
        preset("lstm").replace(learning_rate=parse("learning_rate", "2e-3")).learning_rate == 2e-3
    )


def test_a_pasted_essay_is_cut_in_the_error_line():
    with pytest.raises(ConfigError) as info:
        parse("learning_rate", "x" * 4000)
    assert len(str(info.value)) < 120


def test_metrics_records_are_strict_json_before_the_first_step():
    from rnn_tui.engine.metrics_log import metrics_record

    trainer = Trainer(Config(hidden_size=8, seq_length=8), TEXT)
    record = metrics_record(trainer.snapshot())  # loss is NaN before any step
    assert record["loss"] is None
    text = json.dumps(record, allow_nan=False)  # raises on a bare NaN
    assert json.loads(text)["step"] == 0
