"""Full, read-only and failing disks; the run folder's checkpoints (K kept plus the best, never
more); temporary files of writers that died.

A full or read-only disk is simulated in-process (the tests run as root, for whom a read-only
folder is still writable): the checkpoint writer's `open` or `os.replace` raises the OSError
the kernel would. Training must go on, the previous checkpoint must still load, and the user
must be told, on stderr when headless.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_text

import rnn_tui.engine.checkpoint as checkpoint_module
from rnn_tui.engine import CheckpointSaved, Config, RunPolicy, Trainer, resume_trainer
from rnn_tui.engine.checkpoint import read_meta, remove_stale_temporaries, save_checkpoint
from rnn_tui.engine.events import CheckpointFailed
from rnn_tui.engine.persistence import checkpoint_data
from rnn_tui.engine.store import CheckpointStore
from rnn_tui.tui.cli import main

CONFIG = Config(hidden_size=16, seq_length=8, sample_every=0, val_every=20, val_max_chars=300)


class FillingFile(io.FileIO):
    """A file on a disk that fills up after `room` bytes: the write that overflows raises ENOSPC."""

    room = 5000

    def write(self, data) -> int:
        if self.tell() + len(data) > self.room:
            partial = max(0, self.room - self.tell())
            super().write(bytes(data[:partial]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def disk_full(monkeypatch) -> str:
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        if "w" in mode and "b" in mode:
            return FillingFile(path, "w")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "open", fake_open, raising=False)
    return "No space left on device"


def read_only(monkeypatch) -> str:
    def fake_open(path, mode="r", *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(checkpoint_module, "open", fake_open, raising=False)
    return "Read-only file system"


def rename_fails(monkeypatch) -> str:
    def fake_replace(src, dst, *args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(checkpoint_module.os, "replace", fake_replace)
    return "Input/output error"


FAULTS = {"disk-full": disk_full, "read-only": read_only, "rename-fails": rename_fails}


def files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fault", FAULTS)
def test_failed_autosaves_are_reported_training_goes_on_and_the_old_checkpoint_loads(
    fault, tmp_path, monkeypatch
):
    text = make_text(6000)
    run = tmp_path / "run"
    trainer = Trainer(CONFIG, text, checkpoint_path=run / "latest.npz")
    trainer.run(lambda event: None, max_steps=60)
    assert isinstance(trainer.try_save(), CheckpointSaved)
    before = files(run)

    reason = FAULTS[fault](monkeypatch)
    policy = RunPolicy(autosave_seconds=1e-6)  # try to save between every two steps
    events: list = []
    assert trainer.run(events.append, max_steps=160, policy=policy) == "steps"  # training went on
    failed = [e for e in events if isinstance(e, CheckpointFailed)]
    assert len(failed) >= 50 and not any(isinstance(e, CheckpointSaved) for e in events)
    assert reason in failed[0].error and "unchanged" in failed[0].error
    assert "\n" not in failed[0].error
    assert files(run) == before  # nothing changed, nothing half-written, no temporary left
    monkeypatch.undo()

    resumed = resume_trainer(run / "latest.npz", text)
    assert resumed.step_count == 60
    assert isinstance(trainer.try_save(), CheckpointSaved)  # the disk is back: saving works
    assert read_meta(run / "latest.npz")["step"] == 160


def test_headless_run_on_a_full_disk_reports_on_stderr_trains_on_and_keeps_the_old_checkpoint(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    tiny = ["--hidden-size", "16", "--seq-length", "8", "--sample-every", "0"]
    assert (
        main(["train", "corpus.txt", "--headless", "--steps", "40", "--run-dir", "run", *tiny]) == 0
    )
    before = files(tmp_path / "run")
    capsys.readouterr()

    disk_full(monkeypatch)
    status = main(
        [
            "train",
            "--resume",
            "run/latest.npz",
            "--headless",
            "--steps",
            "300",
            "--autosave-seconds",
            "0.0001",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 1  # the final save failed too: the exit status says so
    lines = err.splitlines()
    assert len(lines) >= 2  # autosaves and the final save, each reported
    assert all(
        line.startswith(
            "rnn-tui: error: could not write checkpoint run/latest.npz: No space left on device"
        )
        for line in lines
    ), lines
    assert "unchanged" in lines[-1]
    assert "step     340" in out  # trained all 300 steps despite the failures
    assert files(tmp_path / "run") == before
    monkeypatch.undo()
    assert resume_trainer(tmp_path / "run" / "latest.npz", make_text(6000)).step_count == 40


def test_a_full_disk_under_the_metrics_log_is_a_warning_not_a_crash(tmp_path):
    """/dev/full: every write fails with ENOSPC, as a log on a full disk would."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    (tmp_path / "corpus.txt").write_text(make_text(6000), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn_tui",
            "train",
            "corpus.txt",
            "--headless",
            "--steps",
            "200",
            "--hidden-size",
            "16",
            "--seq-length",
            "8",
            "--log-jsonl",
            "/dev/full",
            "--run-dir",
            "run",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("rnn-tui: warning: cannot write /dev/full (No space left on device)")
    assert read_meta(tmp_path / "run" / "latest.npz")["step"] == 200


# -- the run folder ------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [1, 3])
def test_the_store_keeps_k_checkpoints_plus_the_best_and_never_more(keep, tmp_path):
    trainer = Trainer(CONFIG, make_text(6000))
    base = checkpoint_data(trainer)
    store = CheckpointStore(tmp_path / "latest.npz", keep)
    rng = np.random.default_rng(0)
    val_losses = rng.uniform(1.0, 3.0, size=12)
    for step, val in enumerate(val_losses, start=1):
        data = type(base)(
            meta=dict(base.meta, step=step * 10, val_loss=float(val)), arrays=base.arrays
        )
        store.save(data)
        names = sorted(p.name for p in tmp_path.iterdir())
        assert len(names) <= keep + 1, names  # K checkpoints + the best
        assert not [n for n in names if n.endswith(".tmp")]
    assert read_meta(tmp_path / "latest.npz")["step"] == 120
    older = [read_meta(p)["step"] for p in store.older()]
    assert older == [110, 100][: keep - 1]
    assert read_meta(store.best)["val_loss"] == pytest.approx(val_losses.min())


def test_a_failed_save_leaves_every_file_of_the_run_folder_as_it_was(tmp_path, monkeypatch):
    trainer = Trainer(CONFIG, make_text(6000))
    store = CheckpointStore(tmp_path / "latest.npz", 3)
    base = checkpoint_data(trainer)
    for step in (10, 20, 30):
        store.save(
            type(base)(meta=dict(base.meta, step=step, val_loss=1.0 / step), arrays=base.arrays)
        )
    before = files(tmp_path)
    disk_full(monkeypatch)
    with pytest.raises(checkpoint_module.CheckpointError, match="No space left"):
        store.save(type(base)(meta=dict(base.meta, step=40, val_loss=0.001), arrays=base.arrays))
    assert files(tmp_path) == before  # byte for byte, and no file more or less


def test_saves_remove_temporary_files_of_dead_writers_only(tmp_path):
    target = tmp_path / "latest.npz"
    dead = 2**22 + 12345  # above pid_max's usual default of 2**22: no such process
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    stale = tmp_path / f".latest.npz.{dead}.tmp"
    alive = tmp_path / f".latest.npz.{os.getppid()}.tmp"  # our parent: a concurrent writer
    other = tmp_path / f".notes.txt.{dead}.tmp"  # not ours to touch
    for path in (stale, alive, other):
        path.write_bytes(b"half a checkpoint")
    trainer = Trainer(CONFIG, make_text(6000))
    save_checkpoint(target, checkpoint_data(trainer))
    assert not stale.exists()
    assert alive.exists() and other.exists()
    assert remove_stale_temporaries(target) == []


def test_a_leftover_temporary_file_does_not_break_loading_or_saving(tmp_path):
    text = make_text(6000)
    trainer = Trainer(CONFIG, text, checkpoint_path=tmp_path / "latest.npz")
    trainer.run(lambda event: None, max_steps=20)
    trainer.try_save()
    dead = 2**22 + 54321
    leftover = tmp_path / f".latest.npz.{dead}.tmp"
    leftover.write_bytes((tmp_path / "latest.npz").read_bytes()[:3000])  # killed mid-write
    assert resume_trainer(tmp_path / "latest.npz", text).step_count == 20
    trainer.run(lambda event: None, max_steps=30)
    assert isinstance(trainer.try_save(), CheckpointSaved)
    assert not leftover.exists()
