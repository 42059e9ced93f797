"""The command line around resuming and output: a resumed run keeps saving where it came from, and
a reader that goes away (a closed pipe) never turns into a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import make_text

from rnn_tui.engine.checkpoint import read_meta
from rnn_tui.tui.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden-size", "16", "--seq-length", "8", "--sample-every", "0"]


def test_a_resumed_run_saves_beside_the_checkpoint_it_came_from(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    assert (
        main(["train", "corpus.txt", "--headless", "--steps", "20", "--run-dir", "mine", *TINY])
        == 0
    )
    assert main(["train", "--resume", "mine/latest.npz", "--headless", "--steps", "10"]) == 0
    out = capsys.readouterr().out
    assert read_meta(tmp_path / "mine" / "latest.npz")["step"] == 30
    assert read_meta(tmp_path / "mine" / "latest-step20.npz")["step"] == 20
    assert not (tmp_path / "runs").exists()  # not scattered into runs/<corpus>/
    assert out.rstrip().endswith("resume with: rnn-tui --resume mine/latest.npz --headless")


def test_paths_with_spaces_are_quoted_in_the_resume_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    assert (
        main(["train", "corpus.txt", "--headless", "--steps", "5", "--run-dir", "my run", *TINY])
        == 0
    )
    assert "resume with: rnn-tui --resume 'my run/latest.npz' --headless" in capsys.readouterr().out


def test_sampling_into_a_pipe_that_closes_early_exits_quietly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    assert main(["train", "corpus.txt", "--headless", "--steps", "5", "--run-dir", "r", *TINY]) == 0
    reader, writer = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnn_tui", "sample", "r/latest.npz", "--length", "100000"],
        stdout=writer,
        stderr=subprocess.PIPE,
    )
    os.close(writer)
    assert len(os.read(reader, 10)) > 0
    os.close(reader)  # like `| head -c 10`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err == b""
