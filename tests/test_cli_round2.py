"""Reliability round two at the command line: one writer per run folder, folders the user cannot
read, a log in a folder that does not exist yet, a healthy one-character window, an honest exit
status and rollback advice that names only this run's checkpoint.

(One-line cases with a scratch folder are rows of tests/test_cli_bad_inputs.py; these need a
live process, another user's view of the file system, or the app itself.)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import unprivileged

from rnn_tui.engine import Config, Trainer, runlock
from rnn_tui.engine.checkpoint import read_meta

WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "red", "door")
TINY = ("--hidden-size", "8", "--seq-length", "8", "--sample-every", "0", "--val-every", "0")


def text(chars: int = 4000) -> str:
    out, i = [], 0
    while sum(map(len, out)) < chars:
        out.append(WORDS[(i * 7) % len(WORDS)])
        i += 1
    return " ".join(out) + "\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(text(), encoding="utf-8")
    return path


def rnn_tui(*args: str, cwd: Path, prefix: tuple[str, ...] = (), **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_TUI_")}
    env["RNN_TUI_CACHE_DIR"] = str(cwd / "cache")
    return subprocess.run(
        [*prefix, sys.executable, "-m", "rnn_tui", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def one_line_error(result, *words: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("rnn-tui: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# -- one writer per run folder ----------------------------------------------------------------


def test_a_second_writer_of_a_run_folder_is_refused_naming_the_live_process(tmp_path, corpus):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [
            *(sys.executable, "-m", "rnn_tui", "train", str(corpus), "--headless", *TINY),
            *("--run-dir", str(run), "--autosave-seconds", "0.2", "--quiet"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run / "latest.npz").exists():  # it holds the lock and has saved once
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the first run never saved"
            time.sleep(0.05)
        second = rnn_tui(
            "train", str(corpus), "--headless", *TINY, "--run-dir", str(run), cwd=tmp_path
        )
        line = one_line_error(second, "in use by rnn-tui process", str(first.pid))
        assert "--run-dir" in line
        owner = runlock.owner(run)
        assert owner is not None and owner.live and owner.pid == first.pid
        step = read_meta(run / "latest.npz")["step"]
        assert step > 0
    finally:
        first.terminate()
        assert first.wait(30) == 0, first.stderr.read()
    # the first run kept its folder to itself: its own latest, its own run id everywhere
    run_ids = {read_meta(p)["run_id"] for p in run.glob("latest*.npz")}
    assert len(run_ids) == 1
    assert runlock.owner(run) is None or not runlock.owner(run).live
    # and once it is gone the folder is free again
    again = rnn_tui(
        "train", "--headless", "--steps", "2", "--resume", str(run / "latest.npz"), cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr


def test_the_dashboard_takes_the_same_lock_before_it_opens(tmp_path, corpus):
    """The lock is taken for every run, dashboard or headless, by the same code (the dashboard
    itself needs a terminal, so this drives the step that comes before it)."""
    from rnn_tui.tui.launch import prepare
    from rnn_tui.tui.options import UsageError
    from rnn_tui.tui.subcommands import train

    run = tmp_path / "run"
    launch = prepare(train.parser().parse_args([str(corpus), *TINY, "--run-dir", str(run)]))
    with (
        runlock.acquire(run, command="rnn-tui corpus.txt"),
        pytest.raises(UsageError) as info,
        train.hold_run_folders(launch, "rnn-tui", []),
    ):
        pass
    assert f"rnn-tui process {os.getpid()}" in str(info.value)
    with train.hold_run_folders(launch, "rnn-tui", []):  # free again once released
        assert runlock.owner(run).pid == os.getpid()


# -- folders the user cannot read ---------------------------------------------------------------


@pytest.fixture
def locked(tmp_path: Path, corpus: Path):
    """A mode-000 folder holding a checkpoint, a corpus and a catalogue text."""
    folder = tmp_path / "locked"
    folder.mkdir()
    trainer = Trainer(Config(hidden_size=8, seq_length=8), corpus.read_text(encoding="utf-8"))
    trainer.save(folder / "x.npz")
    shutil.copy(corpus, folder / "kafka.txt")
    folder.chmod(0)
    yield folder
    folder.chmod(0o755)


STEPS = ("--hidden-size", "8", "--steps", "2")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("train", "corpus.txt", "--headless", *STEPS, "--run-dir", "locked/run"), ("permission",)),
        (
            ("train", "corpus.txt", "--headless", *STEPS, "--log-jsonl", "locked/m.jsonl"),
            ("permission",),
        ),
        (
            ("train", "--resume", "locked/x.npz", "--headless", "--steps", "2"),
            ("Permission denied",),
        ),
        (("sample", "locked/x.npz"), ("Permission denied",)),
        (("train", "kafka", "--headless", *STEPS, "--corpus-dir", "locked"), ("permission",)),
        (("train", "locked/kafka.txt", "--headless", *STEPS), ("permission",)),
    ],
    ids=["run-dir", "log", "resume", "sample", "corpus-dir", "corpus"],
)
def test_a_folder_the_user_cannot_read_is_one_line_not_a_traceback(args, words, tmp_path, locked):
    one_line_error(rnn_tui(*args, cwd=tmp_path, prefix=unprivileged()), *words)


# -- logs, tiny windows, exit status, advice -----------------------------------------------------


def test_the_metrics_log_may_go_into_a_folder_that_does_not_exist_yet(tmp_path, corpus):
    log = tmp_path / "new" / "deeper" / "m.jsonl"
    result = rnn_tui(
        "train", str(corpus), "--headless", *TINY, "--steps", "30", "--run-dir", "run",
        "--log-jsonl", str(log), "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line, parse_constant=lambda c: pytest.fail(c)) for line in log.open()]
    assert records and records[0]["loss"] is None  # before the first step: null, not NaN
    assert records[-1]["step"] == 30


def test_a_one_character_window_trains_without_a_false_divergence_alarm(tmp_path, corpus):
    result = rnn_tui(
        "train", str(corpus), "--headless", "--seq-length", "1", "--hidden-size", "16",
        "--steps", "3000", "--run-dir", "run", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_meta(tmp_path / "run" / "latest.npz")["step"] == 3000


def test_a_real_divergence_with_one_character_windows_is_still_caught(small_text):
    trainer = Trainer(Config(seq_length=1, learning_rate=100.0, hidden_size=16), small_text)
    events: list = []
    assert trainer.run(events.append, max_steps=5000) == "diverged"


def test_divergence_advice_names_only_this_runs_checkpoint(tmp_path, corpus):
    """A run that diverges before its first save, in a folder holding another corpus's
    checkpoint, must not advise resuming that one."""
    run = tmp_path / "run"
    run.mkdir()
    other = Trainer(Config(hidden_size=8, seq_length=8), text(3000).upper() + text(3000))
    other.save(run / "latest.npz")
    result = rnn_tui(
        "train", str(corpus), "--headless", "--learning-rate", "100", "--hidden-size", "16",
        "--steps", "3000", "--run-dir", str(run), "--autosave-seconds", "0", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "nothing was saved" in line and "--resume" not in line, line


async def test_the_dashboard_exits_non_zero_when_its_last_save_fails(tmp_path, small_text):
    from rnn_tui.tui.app import make_app

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the run folder should be", encoding="utf-8")
    trainer = Trainer(
        Config(hidden_size=8, seq_length=8), small_text, checkpoint_path=blocker / "latest.npz"
    )
    app = make_app(trainer, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.dashboard.snapshot is None:
            await pilot.pause(0.02)
        await pilot.press("q")
        while app.return_value is None:
            await pilot.pause(0.02)
    assert app.return_value.startswith("Could not save a checkpoint")
    assert app.exit_status == 1
    assert blocker.read_text(encoding="utf-8").startswith("a file")


async def test_a_long_corpus_path_shows_its_file_name_and_a_long_value_one_cut_error_line(
    tmp_path, small_text
):
    from textual.widgets import Input

    from rnn_tui.tui.app import make_app
    from rnn_tui.tui.widgets import HyperparameterPanel
    from rnn_tui.tui.widgets.status import StatusLine

    name = "/" + "/".join(["a-rather-long-folder-name"] * 6) + "/the-book.txt"
    trainer = Trainer(Config(hidden_size=8, seq_length=8), small_text, corpus_name=name)
    app = make_app(trainer, start_paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.dashboard.query_one("#status-corpus", StatusLine)
        assert "the-book.txt" in str(line.render())
        field = app.dashboard.query_one(HyperparameterPanel).input_for("learning_rate")
        field.focus()
        field.value = "9" * 4000
        await pilot.press("enter")
        error = app.dashboard.query_one("#hp-error")
        await pilot.pause()
        assert error.display and error.region.height == 1
        assert error.region.width <= app.dashboard.query_one(HyperparameterPanel).region.width
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        await pilot.press("q")


def test_max_epochs_stops_after_the_text_has_been_read_that_many_times(small_text):
    trainer = Trainer(Config(hidden_size=8, seq_length=50, batch_size=4), small_text)
    assert trainer.run(lambda event: None, max_epochs=2) == "epochs"
    segment, T = trainer.streams.segment, 50
    windows_per_pass = math.ceil((segment - T - 1) / T)  # offsets 0, T, ... short of the end
    assert trainer.step_count == 2 * windows_per_pass
    assert trainer.streams.epoch == 1  # the third pass has not begun
    assert trainer.run(lambda event: None, max_epochs=2) == "epochs"  # done already: no step
    assert trainer.step_count == 2 * windows_per_pass
