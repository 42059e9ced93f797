"""The command line of issue 16: `--steps` / `--minutes` give the run a budget its schedule spans
(saved with the run; an interrupted run resumed without one finishes what is left of it), and
`rnn-tui lr-find` sweeps, plots and suggests without writing a file; bad input is one line and
exit status 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from conftest import make_text

from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.checkpoint import read_meta
from rnn_tui.tui.cli import main
from rnn_tui.tui.subcommands.train import schedule_budget

TINY = ["--hidden-size", "16", "--seq-length", "8", "--sample-every", "0", "--val-every", "0"]
COSINE = ["--optimizer", "adam", "--learning-rate", "0.01", "--schedule", "cosine"]
COSINE += ["--min-lr", "0.001", "--warmup", "2"]


@pytest.fixture
def corpus(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(6000), encoding="utf-8")
    return path


def files_under(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


def test_a_step_budget_is_the_schedules_horizon_in_the_checkpoint_and_the_log(corpus, capsys):
    argv = ["train", "corpus.txt", "--headless", "--steps", "12", "--run-dir", "r"]
    assert main([*argv, *TINY, *COSINE, "--log-jsonl", "m.jsonl"]) == 0
    meta = read_meta(Path("r/latest.npz"))
    assert meta["schedule_horizon"] == {
        "unit": "steps",
        "start": 0.0,
        "length": 12.0,
        "budget": True,
    }
    last = json.loads(Path("m.jsonl").read_text().splitlines()[-1])
    assert (last["step"], last["horizon_unit"], last["horizon_end"]) == (12, "steps", 12.0)
    assert last["schedule"] == "cosine 12/12 steps"
    assert last["scheduled_learning_rate"] == pytest.approx(0.001)  # the floor, at the budget
    capsys.readouterr()
    # resumed with a new budget: a new cosine over it, from where the run stands
    assert main(["train", "--resume", "r/latest.npz", "--headless", "--steps", "4"]) == 0
    meta = read_meta(Path("r/latest.npz"))
    assert meta["step"] == 16
    assert meta["schedule_horizon"] == {
        "unit": "steps",
        "start": 12.0,
        "length": 4.0,
        "budget": True,
    }


def budget_args(steps=None, minutes=None) -> argparse.Namespace:
    return argparse.Namespace(steps=steps, minutes=minutes)


def test_without_a_new_budget_a_resumed_run_finishes_what_is_left_of_its_own():
    trainer = Trainer(Config(hidden_size=8, seq_length=8), make_text(3000))
    assert schedule_budget(trainer, budget_args(minutes=2)) == (None, 120.0, "")
    assert trainer.horizon.unit == "seconds" and trainer.horizon.length == 120.0
    trainer.elapsed = 45.5  # as a checkpoint interrupted 45.5 s into the budget restores it
    assert schedule_budget(trainer, budget_args()) == (
        None,
        74.5,
        "continuing this run's budget: 0:01:14 left",
    )
    trainer.set_budget("steps", 10)
    trainer.step_count = 4
    assert schedule_budget(trainer, budget_args()) == (
        10,
        None,
        "continuing this run's budget: 6 steps left",
    )
    trainer.step_count = 10  # spent: an open-ended run from here
    assert schedule_budget(trainer, budget_args()) == (None, None, "")
    assert schedule_budget(trainer, budget_args(steps=5)) == (15, None, "")
    assert trainer.horizon.start == 10 and trainer.horizon.length == 5


def test_lr_find_plots_suggests_and_writes_nothing(corpus, capsys):
    before = files_under(corpus.parent)
    argv = ["lr-find", "corpus.txt", *TINY, "--optimizer", "adam", "--sweep-steps", "40"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "learning rate" in out and "loss per character" in out  # the chart's labels
    (line,) = [x for x in out.splitlines() if x.startswith("suggested learning rate: ")]
    assert "a twentieth of" in line  # Adam's fraction of the rate at the lowest loss
    assert files_under(corpus.parent) == before
    assert main(argv) == 0
    assert capsys.readouterr().out == out  # deterministic for a seed


def test_lr_find_reads_the_text_as_a_run_does(tmp_path, monkeypatch, capsys):
    """Without the boilerplate by default (the sweep on the story alone), with it on request."""
    monkeypatch.chdir(tmp_path)
    story = make_text(6000)
    (tmp_path / "story.txt").write_text(story, encoding="utf-8")
    licence = "This ebook is for the use of anyone anywhere at no cost. " * 12
    header = f"The Project Gutenberg eBook of A Test\n\n{licence}\n\n"
    header += "*** START OF THE PROJECT GUTENBERG EBOOK A TEST ***\n\n"
    footer = "\n\n*** END OF THE PROJECT GUTENBERG EBOOK A TEST ***\n\n" + licence + "\n"
    (tmp_path / "book.txt").write_text(header + story + footer, encoding="utf-8")

    def sweep(*argv: str) -> str:
        assert main(["lr-find", *argv, *TINY, "--optimizer", "adam", "--sweep-steps", "30"]) == 0
        return capsys.readouterr().out

    assert sweep("book.txt") == sweep("story.txt")
    assert sweep("book.txt", "--keep-boilerplate") != sweep("story.txt")


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--sweep-steps", "1"], "--sweep-steps must be at least 2"),
        (["--start", "0.1", "--end", "0.01"], "0 < --start < --end"),
        (["--start", "0"], "0 < --start < --end"),
        (["--hidden-size", "0"], "hidden_size must be between"),
    ],
)
def test_lr_find_refuses_bad_options_in_one_line(corpus, capsys, extra, words):
    before = files_under(corpus.parent)
    assert main(["lr-find", "corpus.txt", *TINY, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn-tui: error:") and words in lines[0]
    assert files_under(corpus.parent) == before


def test_lr_find_refuses_a_missing_corpus_in_one_line(corpus, capsys):
    assert main(["lr-find", "nope.txt", *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
