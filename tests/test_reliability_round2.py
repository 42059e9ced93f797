"""Reliability, round two (engine side): rnn-tui writes only where it may, never follows a planted
link, never reads an endless or blocking file as a checkpoint, and refuses counters no run has.

* Defect 1: `--checkpoint PATH` replaced whatever was at PATH (the corpus, a device node). Now
  `save_checkpoint` (and `check_checkpoint_target`, the CLI's early check) write only where
  nothing is or an rnn-tui checkpoint is; the store links, prunes and replaces only its own run's
  checkpoints (`run_id`).
* Defect 7: a symbolic link planted at the temporary name made rnn-tui overwrite its target.
* Defect 3 (checkpoints): /dev/zero or a named pipe given as a checkpoint.
* Defect 14: a checkpoint claiming step -5 or 10**30 loaded and trained.

Every case builds its files in a temporary folder (named pipes with os.mkfifo, devices only as
symbolic links to /dev/zero, never written) and checks that the folder is unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rnn_tui.engine.checkpoint as checkpoint_module
from rnn_tui.engine.checkpoint import (
    FORMAT_VERSION,
    CheckpointData,
    CheckpointError,
    check_checkpoint_target,
    check_counters,
    load_checkpoint,
    read_meta,
    save_checkpoint,
    temporary_name,
)
from rnn_tui.engine.store import CheckpointStore

ARRAYS = {"param/W": np.arange(6.0).reshape(2, 3)}


def data(
    step: int = 3, run_id: str | None = None, val: float | None = None, **meta
) -> CheckpointData:
    """A small checkpoint's contents (the format does not need a Trainer)."""
    values = {"step": step, "val_loss": val, **meta}
    if run_id is not None:
        values["run_id"] = run_id
    return CheckpointData(meta=values, arrays=ARRAYS)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below `root`: kind, size, mtime, link target and content hash."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            digest = None
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
            kind = stat.S_IFMT(info.st_mode)
            tree[str(path.relative_to(root))] = (
                kind,
                info.st_size,
                info.st_mtime_ns,
                target,
                digest,
            )
    return tree


def one_line_error(call: Callable[[], object], *words: str) -> str:
    with pytest.raises(CheckpointError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


# -- defect 1: where a checkpoint may be written -------------------------------------------------


def make_text_file(root: Path) -> Path:
    path = root / "kafka.txt"
    path.write_text("One morning, when Gregor Samsa woke from troubled dreams...\n" * 50)
    return path


def make_folder(root: Path) -> Path:
    (root / "blobs").mkdir()
    (root / "blobs" / "a.txt").write_text("keep me")
    return root / "blobs"


def make_fifo(root: Path) -> Path:
    os.mkfifo(root / "pipe")
    return root / "pipe"


def make_socket(root: Path) -> Path:
    path = root / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays behind: what matters is its type
    return path


def make_device_link(root: Path) -> Path:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    (root / "zero.npz").symlink_to("/dev/zero")
    return root / "zero.npz"


def make_text_link(root: Path) -> Path:
    target = make_text_file(root)
    (root / "latest.npz").symlink_to(target)
    return root / "latest.npz"


def make_folder_link(root: Path) -> Path:
    (root / "linked").symlink_to(make_folder(root))
    return root / "linked"


def make_dangling_link(root: Path) -> Path:
    (root / "dangling.npz").symlink_to(root / "nowhere.npz")
    return root / "dangling.npz"


def make_loop(root: Path) -> Path:
    (root / "a.npz").symlink_to(root / "b.npz")
    (root / "b.npz").symlink_to(root / "a.npz")
    return root / "a.npz"


def make_newer_checkpoint(root: Path) -> Path:
    path = save_checkpoint(root / "newer.npz", data())
    rewrite_meta(path, lambda meta: meta.update(version=FORMAT_VERSION + 1))
    return path


def make_truncated_checkpoint(root: Path) -> Path:
    path = save_checkpoint(root / "cut.npz", data())
    path.write_bytes(path.read_bytes()[:200])
    return path


def rewrite_meta(path: Path, change: Callable[[dict], None]) -> None:
    """Change a checkpoint's metadata in place, bypassing every check (a tampered file)."""
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    meta = json.loads(members["meta"].tobytes())
    change(meta)
    members["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **members)


@dataclass(frozen=True)
class TargetCase:
    """Something already at the checkpoint path, and words the refusal must contain."""

    id: str
    make: Callable[[Path], Path]
    expect: tuple[str, ...]


REFUSED_TARGETS = [
    TargetCase("the-corpus-itself", make_text_file, ("not an rnn-tui checkpoint", "--checkpoint")),
    TargetCase("a-folder", make_folder, ("is a folder", "file path", "unchanged")),
    TargetCase("a-named-pipe", make_fifo, ("named pipe (FIFO)", "--checkpoint")),
    TargetCase("a-socket", make_socket, ("a socket",)),
    TargetCase("a-link-to-dev-zero", make_device_link, ("character device", "/dev/zero")),
    TargetCase("a-link-to-the-corpus", make_text_link, ("not an rnn-tui checkpoint", "kafka.txt")),
    TargetCase("a-link-to-a-folder", make_folder_link, ("is a folder",)),
    TargetCase("a-dangling-link", make_dangling_link, ("symbolic link to", "does not exist")),
    TargetCase("a-link-loop", make_loop, ("symbolic link loop",)),
    TargetCase("a-newer-checkpoint", make_newer_checkpoint, ("newer rnn-tui", "upgrade")),
    TargetCase("a-truncated-checkpoint", make_truncated_checkpoint, ("not an rnn-tui checkpoint",)),
]


@pytest.mark.parametrize("case", REFUSED_TARGETS, ids=[c.id for c in REFUSED_TARGETS])
def test_a_checkpoint_is_never_written_over_anything_but_a_checkpoint(case, tmp_path):
    target = case.make(tmp_path)
    before = snapshot(tmp_path)
    for call in (lambda: check_checkpoint_target(target), lambda: save_checkpoint(target, data())):
        message = one_line_error(call, *case.expect)
        assert str(target) in message, message
    assert snapshot(tmp_path) == before  # nothing replaced, created (no temporary) or removed


@pytest.mark.parametrize("where", ["nothing", "a-checkpoint", "a-link-to-a-checkpoint"])
def test_nothing_or_a_checkpoint_may_be_written(where, tmp_path):
    path = tmp_path / "latest.npz"
    if where == "a-checkpoint":
        save_checkpoint(path, data(step=1))
    elif where == "a-link-to-a-checkpoint":
        save_checkpoint(tmp_path / "elsewhere.npz", data(step=1))
        path.symlink_to(tmp_path / "elsewhere.npz")
    check_checkpoint_target(path)
    save_checkpoint(path, data(step=2))
    assert read_meta(path)["step"] == 2


def test_the_corpus_survives_a_checkpoint_pointed_at_it_byte_for_byte(tmp_path):
    """The report's case: `rnn-tui kafka.txt --checkpoint kafka.txt`."""
    corpus = make_text_file(tmp_path)
    text = corpus.read_bytes()
    with pytest.raises(CheckpointError, match="refusing to overwrite"):
        save_checkpoint(corpus, data())
    assert corpus.read_bytes() == text


# -- defect 7: temporary files ------------------------------------------------------------------


def test_a_link_planted_at_the_temporary_name_is_never_followed(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("not rnn-tui's to touch\n")
    path = tmp_path / "latest.npz"
    planted = temporary_name(path)
    planted.symlink_to(victim)
    save_checkpoint(path, data(step=4))
    assert victim.read_text() == "not rnn-tui's to touch\n"
    assert planted.is_symlink() and os.readlink(planted) == str(victim)  # left as it was
    assert read_meta(path)["step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["precious.txt", "latest.npz", planted.name]
    )


def test_a_file_already_at_the_temporary_name_is_left_alone(tmp_path):
    """A name taken by a leftover of an earlier process with our pid: another name is used."""
    path = tmp_path / "latest.npz"
    taken = temporary_name(path)
    taken.write_bytes(b"somebody else's half-written file")
    save_checkpoint(path, data(step=5))
    assert taken.read_bytes() == b"somebody else's half-written file"
    assert read_meta(path)["step"] == 5


def test_temporaries_are_opened_exclusively_without_following_links(tmp_path, monkeypatch):
    seen: list[int] = []
    real_open = os.open

    def recording_open(name, flags, *args, **kwargs):
        if str(name).endswith(".tmp"):
            seen.append(flags)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.os, "open", recording_open)
    save_checkpoint(tmp_path / "latest.npz", data())
    assert seen, "the temporary file was not opened through os.open"
    for flag in ("O_CREAT", "O_EXCL", "O_NOFOLLOW", "O_WRONLY"):
        assert seen[0] & getattr(os, flag), flag


def test_a_link_planted_at_the_best_checkpoints_temporary_name_is_never_followed(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep\n")
    store = CheckpointStore(tmp_path / "latest.npz", keep=3, run_id="run-a")
    planted = tmp_path / f".latest-best.npz.{os.getpid()}.tmp"
    planted.symlink_to(victim)
    store.save(data(step=1, val=2.0))
    assert victim.read_text() == "keep\n"
    assert planted.is_symlink()
    assert read_meta(store.best)["step"] == 1


def test_stale_temporaries_that_are_links_are_not_removed(tmp_path):
    dead = 2**22 + 4321  # above the usual pid_max: no such process
    link = tmp_path / f".latest.npz.{dead}.tmp"
    link.symlink_to(tmp_path / "target.txt")
    (tmp_path / "target.txt").write_text("x")
    stale = tmp_path / f".latest.npz.{dead}.1.tmp"  # a numbered temporary of a dead writer
    stale.write_bytes(b"PK\x03\x04 half")
    save_checkpoint(tmp_path / "latest.npz", data())
    assert link.is_symlink() and not stale.exists()


# -- defect 3: endless or blocking files as checkpoints -----------------------------------------


def finishes(call: Callable[[], object], seconds: float = 5.0) -> BaseException | None:
    """Run `call` in a thread; the exception it raised (None if none). Fails if it hangs."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s (blocked or reading forever)"
    return outcome[0]


@pytest.mark.parametrize(
    "make, words",
    [
        (make_fifo, ("named pipe (FIFO)",)),
        (make_device_link, ("character device",)),
        (make_socket, ("a socket",)),
        (make_dangling_link, ("symbolic link to", "does not exist")),
        (make_loop, ("symbolic link loop",)),
    ],
    ids=["named-pipe-without-writer", "link-to-dev-zero", "socket", "dangling-link", "link-loop"],
)
def test_a_checkpoint_that_is_not_a_regular_file_is_refused_at_once(make, words, tmp_path):
    path = make(tmp_path)
    for reader in (
        lambda: read_meta(path),
        lambda: load_checkpoint(path, expected={}),
        lambda: checkpoint_module.check_arrays(path, {}),
    ):
        error = finishes(reader)
        assert isinstance(error, CheckpointError), error
        message = str(error)
        assert "\n" not in message and str(path) in message, message
        for word in words:
            assert word in message, message


def test_a_checkpoint_file_beyond_the_size_limit_is_refused(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "big.npz", data())
    monkeypatch.setattr(checkpoint_module, "MAX_CHECKPOINT_BYTES", path.stat().st_size - 1)
    message = one_line_error(lambda: read_meta(path), "more than the")
    assert f"{path.stat().st_size:,} bytes" in message, message


# -- defect 14: counters no run can have --------------------------------------------------------


def good_meta() -> dict:
    """Counters as a run 40 steps in writes them (every kind of counter present)."""
    return {
        "step": 40,
        "elapsed": 12.5,
        "streams": {"offset": 175, "epoch": 2, "started": 1},
        "sample_requests": 3,
        "hparam_change_steps": [0, 17, 40],
        "samples": [[20, "the cat"], [40, "sat on"]],
        "train_curve": {
            "stride": 2,
            "acc_step": 39.0,
            "acc_value": 3.1,
            "acc_count": 1,
            "size": 20,
        },
        "val_curve": {"stride": 1, "acc_step": 0.0, "acc_value": 0.0, "acc_count": 0, "size": 2},
        "last_inputs": [1, 4, 0, 7],
        "last_target": 3,
        "recent_losses": [3.1, 3.0],
    }


@dataclass(frozen=True)
class CounterCase:
    id: str
    change: Callable[[dict], None]
    expect: str  # the counter the message must name


def _set(*keys, value):
    def change(meta: dict) -> None:
        node = meta
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


TAMPERED = [
    CounterCase("negative-step", _set("step", value=-5), "step is -5"),
    CounterCase("step-10**30", _set("step", value=10**30), "step is"),
    CounterCase("fractional-step", _set("step", value=1.5), "step is 1.5"),
    CounterCase("step-as-text", _set("step", value="40"), "step is '40'"),
    CounterCase("step-true", _set("step", value=True), "step is True"),
    CounterCase("negative-elapsed", _set("elapsed", value=-1.0), "elapsed"),
    CounterCase("infinite-elapsed", _set("elapsed", value=float("inf")), "elapsed"),
    CounterCase("nan-elapsed", _set("elapsed", value=float("nan")), "elapsed"),
    CounterCase("400-digit-elapsed", _set("elapsed", value=10**400), "elapsed"),
    CounterCase("negative-offset", _set("streams", "offset", value=-1), "streams.offset"),
    CounterCase("epoch-beyond-step", _set("streams", "epoch", value=42), "streams.epoch"),
    CounterCase("streams-not-a-mapping", _set("streams", value=[1, 2]), "streams"),
    CounterCase("started-2", _set("streams", "started", value=2), "streams.started"),
    CounterCase("negative-sample-requests", _set("sample_requests", value=-1), "sample_requests"),
    CounterCase(
        "change-beyond-step", _set("hparam_change_steps", value=[10, 41]), "hparam_change_steps[1]"
    ),
    CounterCase("negative-change", _set("hparam_change_steps", value=[-3]), "hparam_change_steps"),
    CounterCase("sample-beyond-step", _set("samples", value=[[99, "x"]]), "samples[0] step"),
    CounterCase("sample-not-a-pair", _set("samples", value=[[1, 2, 3]]), "samples[0]"),
    CounterCase("negative-curve-size", _set("train_curve", "size", value=-1), "train_curve.size"),
    CounterCase("zero-stride", _set("val_curve", "stride", value=0), "val_curve.stride"),
    CounterCase(
        "a-whole-stride-pending", _set("train_curve", "acc_count", value=2), "train_curve.acc_count"
    ),
    CounterCase("nan-accumulator", _set("train_curve", "acc_step", value=float("nan")), "acc_step"),
    CounterCase("negative-last-target", _set("last_target", value=-1), "last_target"),
    CounterCase("negative-input-id", _set("last_inputs", value=[1, -2]), "last_inputs[1]"),
    CounterCase("losses-not-a-list", _set("recent_losses", value=5), "recent_losses"),
]


def test_the_counters_of_a_plausible_run_pass(tmp_path):
    check_counters(good_meta(), tmp_path / "x.npz")
    check_counters({}, tmp_path / "x.npz")  # absent counters are the restore's business
    # a step that diverged after reading (and wrapping) its window: one more read than steps
    failed_step = dict(good_meta(), streams={"offset": 0, "epoch": 41, "started": 1})
    check_counters(failed_step, tmp_path / "x.npz")


@pytest.mark.parametrize("case", TAMPERED, ids=[c.id for c in TAMPERED])
def test_tampered_counters_are_refused_by_every_reader(case, tmp_path):
    meta = good_meta()
    case.change(meta)
    path = tmp_path / "tampered.npz"
    save_checkpoint(path, data(**good_meta()))
    rewrite_meta(path, lambda m: m.update(meta))
    for call in (
        lambda: check_counters(meta, path),
        lambda: read_meta(path),
        lambda: load_checkpoint(path, expected={"param/W": ((2, 3), "float64")}),
    ):
        message = one_line_error(call, "counters are invalid", case.expect)
        assert str(path) in message


def test_a_real_runs_checkpoint_passes_the_counter_check(tmp_path):
    """Whatever the Trainer writes after training, validating and sampling is accepted."""
    from conftest import make_text

    from rnn_tui.engine import Config, Trainer

    config = Config(hidden_size=8, seq_length=8, val_every=5, val_max_chars=200, sample_every=7)
    trainer = Trainer(config, make_text(3000))
    trainer.run(lambda event: None, max_steps=30)
    path = trainer.save(tmp_path / "real.npz")
    meta = read_meta(path)
    assert meta["step"] == 30 and meta["samples"], meta.keys()


# -- defect 1 (the store): only this run's checkpoints are linked, pruned or replaced -----------


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_two_runs_in_one_folder_never_prune_or_replace_each_others_checkpoints(tmp_path):
    """The report's case without a lock: run B saves into run A's folder."""
    latest = tmp_path / "latest.npz"
    a = CheckpointStore(latest, keep=2, run_id="run-a")
    b = CheckpointStore(latest, keep=2, run_id="run-b")
    for step in (10, 20, 30):
        a.save(data(step=step, val=1.0 / step))
    a_files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(a_files) == {"latest.npz", "latest-step20.npz", "latest-best.npz"}
    for step in (1, 2, 3, 4):  # B saves: A's newest is kept, A's files are never deleted
        b.save(data(step=step, val=0.001))
    assert read_meta(latest)["run_id"] == "run-b"
    kept_a = {n for n in names(tmp_path) if read_meta(tmp_path / n).get("run_id") == "run-a"}
    assert kept_a == {"latest-step20.npz", "latest-step30.npz", "latest-best.npz"}
    assert (tmp_path / "latest-step30.npz").read_bytes() == a_files["latest.npz"]
    assert (tmp_path / "latest-best.npz").read_bytes() == a_files["latest-best.npz"]
    assert [read_meta(p)["step"] for p in b.older()] == [3]  # B keeps its own K = 2
    assert any("belongs to another run" in line for line in b.notices)


def test_another_runs_latest_is_not_replaced_when_it_cannot_be_kept(tmp_path):
    latest = tmp_path / "latest.npz"
    CheckpointStore(latest, keep=3, run_id="run-a").save(data(step=7))
    save_checkpoint(tmp_path / "latest-step7.npz", data(step=7, run_id="run-c"))  # name taken
    before = snapshot(tmp_path)
    store = CheckpointStore(latest, keep=3, run_id="run-b")
    message = one_line_error(lambda: store.save(data(step=1)), "another run", "--run-dir")
    assert str(latest) in message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("run_id", [None, "run-a"])
def test_files_named_like_checkpoints_that_are_not_are_never_pruned(run_id, tmp_path):
    """A user's `latest-step5.npz` (a text) or a link there: the pattern alone is not enough."""
    notes = tmp_path / "latest-step5.npz"
    notes.write_text("my notes, not a checkpoint\n")
    elsewhere = save_checkpoint(tmp_path / "elsewhere.npz", data(step=6, run_id=run_id))
    (tmp_path / "latest-step6.npz").symlink_to(elsewhere)
    best = tmp_path / "latest-best.npz"
    best.write_text("my best essay\n")
    store = CheckpointStore(tmp_path / "latest.npz", keep=1, run_id=run_id)
    for step in (10, 20, 30):
        store.save(data(step=step, val=0.5))
    assert notes.read_text() == "my notes, not a checkpoint\n"
    assert (tmp_path / "latest-step6.npz").is_symlink()
    assert best.read_text() == "my best essay\n"
    assert read_meta(tmp_path / "latest.npz")["step"] == 30


def test_the_store_stamps_its_run_id_and_keeps_k_of_its_own(tmp_path):
    store = CheckpointStore(tmp_path / "latest.npz", keep=3, run_id="run-a")
    for step in range(1, 8):
        store.save(data(step=step, val=10.0 - step))
    assert read_meta(tmp_path / "latest.npz")["run_id"] == "run-a"
    assert [read_meta(p)["step"] for p in store.older()] == [6, 5]
    assert read_meta(store.best)["step"] == 7
    assert names(tmp_path) == [
        "latest-best.npz",
        "latest-step5.npz",
        "latest-step6.npz",
        "latest.npz",
    ]


def test_a_damaged_checkpoint_of_this_run_is_replaced_and_one_of_another_run_is_kept(tmp_path):
    """Damaged counters make a file unusable, not foreign: rnn-tui may replace its own (or the
    run could never save again), but never another run's."""
    latest = tmp_path / "latest.npz"
    store = CheckpointStore(latest, keep=3, run_id="run-a")
    store.save(data(step=5))
    rewrite_meta(latest, lambda meta: meta.update(step=-5))
    check_checkpoint_target(latest)  # still an rnn-tui checkpoint: ours to replace
    store.save(data(step=6))
    assert read_meta(latest)["step"] == 6
    rewrite_meta(latest, lambda meta: meta.update(step=-5, run_id="run-b"))
    before = snapshot(tmp_path)
    one_line_error(lambda: store.save(data(step=7)), "another run's checkpoint, damaged")
    assert snapshot(tmp_path) == before
