"""The yardsticks at the command line: `rnn-tui baselines`, `--baseline-order`, and what a
headless run prints and logs (the baseline table first; progress and JSONL say where the model
stands; gradient health and novelty in every record). Bad input is one line and exit status 2
with nothing written, as in tests/test_cli_bad_inputs.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from rnn_tui.engine.ngram import compute_baselines
from rnn_tui.engine.streams import split_ids
from rnn_tui.engine.vocab import Vocab

REPO_ROOT = Path(__file__).resolve().parents[1]
TEXT = make_text(30_000, seed=7)


def rnn_tui(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNN_TUI_CACHE_DIR=str(cwd / "cache"), PYTHONPATH=str(REPO_ROOT))
    env.pop("RNN_TUI_CORPUS_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "rnn_tui", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "story.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


def table_rows(stdout: str) -> dict[str, float]:
    """label -> nats/char from the printed table."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^\s+(uniform|unigram|\d+-gram)\s+([\d.]+)\s", line)
        if match:
            rows[match.group(1)] = float(match.group(2))
    return rows


def expected_table(order: int, val_fraction: float = 0.1, val_chars: int = 0) -> dict:
    vocab = Vocab.from_text(TEXT)
    train, val = split_ids(vocab.encode(TEXT), val_fraction)
    if val_chars:
        val = val[: val_chars + 1]
    return dict(compute_baselines(train, val, len(vocab), order).yardsticks())


def test_the_baselines_subcommand_prints_the_engines_table_then_reads_it_from_the_cache(folder):
    first = rnn_tui("baselines", "story.txt", "--order", "4", "--val-fraction", "0.2", cwd=folder)
    assert first.returncode == 0, first.stderr
    rows = table_rows(first.stdout)
    expected = expected_table(4, 0.2)
    assert list(rows) == ["uniform", "unigram", "2-gram", "3-gram", "4-gram"]
    for label, value in expected.items():
        assert rows[label] == pytest.approx(value, abs=5e-4)
    assert "computed in" in first.stdout
    assert list((folder / "cache" / "baselines").glob("ngram-*-order4.json"))
    again = rnn_tui("baselines", "story.txt", "--order", "4", "--val-fraction", "0.2", cwd=folder)
    assert "read from the cache" in again.stdout and table_rows(again.stdout) == rows


def test_val_chars_scores_the_first_characters_as_a_training_run_does(folder):
    result = rnn_tui("baselines", "story.txt", "--order", "3", "--val-chars", "500", cwd=folder)
    assert result.returncode == 0, result.stderr
    rows, expected = table_rows(result.stdout), expected_table(3, val_chars=500)
    assert rows == pytest.approx({k: round(v, 3) for k, v in expected.items()}, abs=5e-4)
    assert "the first 501 of the" in result.stdout


BAD = [
    (("baselines", "nope.txt"), "no such file"),
    (("baselines", "story.txt", "--order", "0"), "--order must be between 1 and 10"),
    (("baselines", "story.txt", "--order", "11"), "--order must be between 1 and 10"),
    (("baselines", "story.txt", "--order", "x"), "invalid int value"),
    (("baselines", "story.txt", "--val-fraction", "0"), "--val-fraction must be above 0"),
    (("baselines", "story.txt", "--val-fraction", "0.9"), "at most 0.5 (got 0.9)"),
    (("baselines", "story.txt", "--val-fraction", "nan"), "--val-fraction must be above 0"),
    (("baselines", "story.txt", "--val-chars", "-1"), "--val-chars must be 0 or more"),
    (("train", "story.txt", "--headless", "--baseline-order", "11"), "--baseline-order"),
    (("train", "story.txt", "--headless", "--baseline-order", "-1"), "--baseline-order"),
]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def bad_outcomes(tmp_path_factory) -> dict:
    """Every bad case run at once (a few at a time), each in a scratch folder of its own."""

    def run(case: int):
        root = tmp_path_factory.mktemp(f"bad{case}")
        (root / "story.txt").write_text(TEXT, encoding="utf-8")
        before = tree(root)
        return rnn_tui(*BAD[case][0], cwd=root), before, tree(root)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(range(len(BAD)), pool.map(run, range(len(BAD))), strict=True))


@pytest.mark.parametrize("case", range(len(BAD)), ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(bad_outcomes, case):
    result, before, after = bad_outcomes[case]
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn-tui: error:"), result.stderr
    assert BAD[case][1] in lines[0]
    assert "Traceback" not in result.stderr
    assert after == before


def test_a_headless_run_prints_the_table_first_and_logs_where_it_stands(folder):
    args = ("train", "story.txt", "--headless", "--steps", "400", "--log-jsonl", "m.jsonl")
    result = rnn_tui(*args, "--baseline-order", "3", "--val-every", "100", cwd=folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    table_at = out.index("baselines on the")
    assert table_at < out.index("step ")  # before the first progress line
    expected = expected_table(3)  # the default --val-chars 20,000 exceeds this split
    assert table_rows(out) == pytest.approx({k: round(v, 3) for k, v in expected.items()}, abs=5e-4)
    final = [line for line in out.splitlines() if line.startswith("step ")][-1]
    assert re.search(r"val \d\.\d{3} \((beats|worse than) ", final), final
    records = [json.loads(line) for line in (folder / "m.jsonl").read_text().splitlines()]
    last = records[-1]
    assert last["baselines"] == pytest.approx(expected)
    beaten = [label for label, value in expected.items() if last["val_loss"] < value]
    assert last["val_beats"] == beaten
    assert set(last["grad_norms"]) == {"Wxh", "Whh", "Why", "bh", "by"}
    assert set(last["update_ratios"]) == set(last["grad_norms"])
    assert isinstance(last["clipped_fraction"], float)
    assert "longest_copy" in last and "copied_fraction" in last
    assert all(set(r) == set(last) for r in records)  # one schema, every line
    again = rnn_tui(*args, "--baseline-order", "3", "--run-dir", "again", cwd=folder)
    assert "(cached)" in again.stdout
    assert np.isfinite(last["val_loss"])
