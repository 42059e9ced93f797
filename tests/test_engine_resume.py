"""Checkpoints: resuming is bit-exact, and every kind of bad file is refused with a one-line CheckpointError.

Bad files are built by hand (zip archives and `.npz` members written here), not through the
engine's writer, so the loader is tested against what a damaged or hostile file really contains.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnn_tui.engine import (
    CheckpointError,
    CheckpointSaved,
    Config,
    SampleReady,
    Trainer,
    resume_trainer,
)
from rnn_tui.engine.checkpoint import FORMAT_VERSION

N = 25  # steps before and after the checkpoint

RESUME_CONFIGS = {
    # batched, validation and periodic samples inside the window, streams wrap in both halves
    "batched-float64": Config(
        hidden_size=24,
        batch_size=4,
        seq_length=12,
        val_fraction=0.1,
        val_every=7,
        val_max_chars=400,
        sample_every=6,
        sample_length=40,
    ),
    "batched-float32": Config(
        hidden_size=24,
        batch_size=3,
        seq_length=16,
        val_fraction=0.1,
        val_every=5,
        val_max_chars=400,
        sample_every=9,
        sample_length=40,
        dtype="float32",
    ),
    # two layers with dropout: the dropout RNG must be restored too; Adam keeps m, v and t
    "two-layer-dropout-adam": Config(
        hidden_size=16,
        num_layers=2,
        dropout=0.25,
        batch_size=4,
        seq_length=10,
        optimizer="adam",
        learning_rate=0.01,
        val_fraction=0.1,
        val_every=10,
        val_max_chars=300,
        sample_every=10,
        sample_length=30,
        dtype="float32",
    ),
}
# late dropout that starts in the second half (0.8 epochs of 1,800 characters: step 36)
RESUME_CONFIGS["late-dropout-lstm"] = RESUME_CONFIGS["two-layer-dropout-adam"].replace(
    cell="lstm", dropout=0.3, dropout_from_epoch=0.8
)


def run_collecting(trainer: Trainer, max_steps: int) -> list:
    """trainer.run to an absolute step count; every published event, in order."""
    events: list = []
    assert trainer.run(events.append, max_steps=max_steps) == "steps"
    return events


def periodic_samples(events: list) -> list[tuple[int, str, str]]:
    return [
        (e.step, e.seed, e.text) for e in events if isinstance(e, SampleReady) and not e.requested
    ]


def assert_same_training_state(a: Trainer, b: Trainer) -> None:
    assert a.step_count == b.step_count
    assert set(a.params) == set(b.params)
    for name in a.params:
        assert a.params[name].dtype == b.params[name].dtype
        assert np.array_equal(a.params[name], b.params[name]), f"parameter {name}"
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), f"optimizer {key}"
    assert (
        np.array_equal(a.hidden_state, b.hidden_state)
        and a.hidden_state.dtype == b.hidden_state.dtype
    )
    assert a.streams.state_dict() == b.streams.state_dict()
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.sample_rng.bit_generator.state == b.sample_rng.bit_generator.state
    assert list(a.recent_losses) == list(b.recent_losses)
    assert a.smooth.value == b.smooth.value
    assert a.last_loss == b.last_loss
    assert a.val_loss == b.val_loss
    assert np.array_equal(a.train_curve.array(), b.train_curve.array())
    assert np.array_equal(a.val_curve.array(), b.val_curve.array())
    assert list(a.samples) == list(b.samples)


@pytest.mark.parametrize("name", sorted(RESUME_CONFIGS))
def test_resume_from_checkpoint_is_bit_exact(name, small_text, tmp_path):
    config = RESUME_CONFIGS[name]
    small_text = small_text[:2000]  # short, so the streams wrap within 2N steps
    straight = Trainer(config, small_text)
    straight_events = run_collecting(straight, 2 * N)

    first = Trainer(config, small_text)
    first_events = run_collecting(first, N)
    path = first.save(tmp_path / "half.npz")
    assert path == tmp_path / "half.npz" and path.is_file()
    assert not list(tmp_path.glob(".*tmp")), "the temporary file must be gone after an atomic save"
    resumed = resume_trainer(path, small_text)
    assert resumed.step_count == N
    assert_same_training_state(first, resumed)
    resumed_events = run_collecting(resumed, 2 * N)

    assert_same_training_state(straight, resumed)
    assert straight.streams.epoch >= 1, "the run should wrap its streams at least once"
    assert len(straight.val_curve.array()) >= 2, "validation should have run"
    samples = periodic_samples(straight_events)
    assert len(samples) >= 4
    assert periodic_samples(first_events) + periodic_samples(resumed_events) == samples
    # the next periodic sample (and the next steps) are the same too
    assert straight.periodic_sample() == resumed.periodic_sample()
    assert straight.train_step() == resumed.train_step()
    assert_same_training_state(straight, resumed)


def test_resume_keeps_changed_hyperparameters(small_text, tmp_path):
    config = RESUME_CONFIGS["batched-float64"]
    trainer = Trainer(config, small_text)
    run_collecting(trainer, 5)
    trainer.update(learning_rate=0.03, temperature=0.7)
    run_collecting(trainer, 10)
    assert trainer.config.learning_rate == 0.03
    resumed = resume_trainer(trainer.save(tmp_path / "c.npz"), small_text)
    assert resumed.config == trainer.config
    assert resumed.hparam_change_steps == trainer.hparam_change_steps == [5]
    assert trainer.train_step() == resumed.train_step()


def test_checkpoint_requested_while_running_is_resumable(small_text, tmp_path):
    trainer = Trainer(RESUME_CONFIGS["batched-float32"], small_text)
    events: list = []
    trainer.request_checkpoint(tmp_path / "ckpt.npz")
    trainer.run(events.append, max_steps=3)
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert len(saved) == 1 and Path(saved[0].path) == tmp_path / "ckpt.npz"
    resumed = resume_trainer(saved[0].path, small_text)
    assert resumed.step_count == saved[0].step


# -- refusing bad checkpoints ---------------------------------------------------------------------

ACTIONS = (
    "use another",
    "use an earlier",
    "start a new run",
    "pass ",
    "upgrade",
    "check the path",
    "resume on",
)


def assert_refused(path: Path, text: str, match: str | None = None, **kwargs) -> str:
    """from_checkpoint raises CheckpointError with a single line that says what to do."""
    with pytest.raises(CheckpointError) as info:
        resume_trainer(path, text, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert any(action in message for action in ACTIONS), (
        f"message does not say what to do: {message}"
    )
    if match is not None:
        assert match in message, message
    return message


@pytest.fixture
def checkpoint(small_text, tmp_path) -> Path:
    """A valid float64 checkpoint after a few steps."""
    trainer = Trainer(RESUME_CONFIGS["batched-float64"], small_text)
    run_collecting(trainer, 8)
    return trainer.save(tmp_path / "good.npz")


def read_members(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta dict, the other arrays) of an engine checkpoint, read with plain NumPy."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    return meta, arrays


def write_members(path: Path, meta: dict | None, arrays: dict[str, np.ndarray]) -> Path:
    """Write an .npz by hand (np.savez allows object arrays, which a hostile file could hold)."""
    members = dict(arrays)
    if meta is not None:
        members["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **members)
    return path


def test_valid_checkpoint_fixture_loads(checkpoint, small_text):
    assert resume_trainer(checkpoint, small_text).step_count == 8


def test_missing_file_and_folder_are_refused(tmp_path, small_text):
    assert_refused(tmp_path / "nope.npz", small_text, "does not exist")
    assert_refused(tmp_path, small_text, "folder")


def test_random_bytes_are_refused(tmp_path, small_text):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    assert_refused(path, small_text, "not a valid .npz")


def test_empty_file_is_refused(tmp_path, small_text):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    assert_refused(path, small_text)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_checkpoint_is_refused(checkpoint, small_text, tmp_path, keep):
    data = checkpoint.read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[: int(len(data) * keep)])
    assert_refused(path, small_text)


def test_checkpoint_with_flipped_bytes_in_an_array_is_refused(checkpoint, small_text, tmp_path):
    # npz members are stored uncompressed: corrupting bytes inside the zip trips its CRC check
    data = bytearray(checkpoint.read_bytes())
    with zipfile.ZipFile(checkpoint) as zf:
        info = zf.getinfo("param/Why.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    for i in range(start, start + 64):
        data[i] ^= 0xFF
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    assert_refused(path, small_text)


def test_newer_format_version_says_to_upgrade(checkpoint, small_text, tmp_path):
    meta, arrays = read_members(checkpoint)
    meta["version"] = FORMAT_VERSION + 1
    message = assert_refused(
        write_members(tmp_path / "newer.npz", meta, arrays), small_text, "upgrade"
    )
    assert f"format {FORMAT_VERSION + 1}" in message


@pytest.mark.parametrize("version", [0, -3, "1", None])
def test_unknown_or_missing_format_version_is_refused(checkpoint, small_text, tmp_path, version):
    meta, arrays = read_members(checkpoint)
    meta["version"] = version
    assert_refused(write_members(tmp_path / "v.npz", meta, arrays), small_text)


def test_different_corpus_is_refused_unless_allowed(checkpoint, small_text):
    other = small_text[::-1]
    assert_refused(checkpoint, other, "different text")
    # explicitly allowed: the same vocabulary, so training can continue on the other text
    trainer = resume_trainer(checkpoint, other, allow_other_corpus=True)
    assert trainer.step_count == 8


def test_text_with_characters_the_model_never_saw_is_refused(checkpoint, small_text):
    assert_refused(checkpoint, small_text + "\u00e9\u00df", allow_other_corpus=True)


def test_foreign_npz_is_refused(tmp_path, small_text):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones((3, 3)))
    assert_refused(path, small_text, "meta")


def test_foreign_zip_is_refused(tmp_path, small_text):
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert_refused(path, small_text)


def test_npz_with_foreign_metadata_is_refused(checkpoint, small_text, tmp_path):
    meta, arrays = read_members(checkpoint)
    meta["format"] = "someone-elses-format"
    assert_refused(
        write_members(tmp_path / "other.npz", meta, arrays), small_text, "not an rnn-tui checkpoint"
    )
    path = tmp_path / "badjson.npz"
    with open(path, "wb") as handle:
        np.savez(handle, meta=np.frombuffer(b"{not json", dtype=np.uint8), **arrays)
    assert_refused(path, small_text, "JSON")
    path = tmp_path / "listmeta.npz"
    with open(path, "wb") as handle:
        np.savez(handle, meta=np.frombuffer(b"[1, 2]", dtype=np.uint8), **arrays)
    assert_refused(path, small_text)
    path = tmp_path / "floatmeta.npz"
    with open(path, "wb") as handle:
        np.savez(handle, meta=np.zeros(4), **arrays)
    assert_refused(path, small_text, "metadata")


def _altered(checkpoint: Path, tmp_path: Path, name: str, value) -> Path:
    meta, arrays = read_members(checkpoint)
    if value is None:
        del arrays[name]
    else:
        arrays[name] = value
    return write_members(tmp_path / "altered.npz", meta, arrays)


def test_parameter_with_a_different_shape_is_refused(checkpoint, small_text, tmp_path):
    _, arrays = read_members(checkpoint)
    bigger = np.zeros((arrays["param/Why"].shape[0] + 1, arrays["param/Why"].shape[1]))
    assert_refused(_altered(checkpoint, tmp_path, "param/Why", bigger), small_text, "shape")
    assert_refused(
        _altered(checkpoint, tmp_path, "param/bh", arrays["param/bh"][None]), small_text, "shape"
    )


def test_parameter_with_a_different_dtype_is_refused(checkpoint, small_text, tmp_path):
    _, arrays = read_members(checkpoint)
    for value in (
        arrays["param/Whh"].astype(np.float32),
        arrays["param/Whh"].astype(np.int64),
        arrays["param/Whh"].astype(">f8"),
    ):
        assert_refused(_altered(checkpoint, tmp_path, "param/Whh", value), small_text, "dtype")


def test_object_array_is_refused_without_unpickling(checkpoint, small_text, tmp_path):
    _, arrays = read_members(checkpoint)
    objects = np.empty(arrays["param/by"].shape, dtype=object)
    objects[:] = [Exploding() for _ in range(objects.size)]
    path = _altered(checkpoint, tmp_path, "param/by", objects)
    assert_refused(path, small_text, "dtype")


class Exploding:
    """Unpickling this would raise (a stand-in for a malicious payload)."""

    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise AssertionError("the checkpoint loader unpickled an object")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_parameter_is_refused(checkpoint, small_text, tmp_path, bad):
    _, arrays = read_members(checkpoint)
    value = arrays["param/Wxh"].copy()
    value[1, 2] = bad
    assert_refused(
        _altered(checkpoint, tmp_path, "param/Wxh", value), small_text, "NaN or infinite"
    )


def test_non_finite_optimizer_memory_is_refused(checkpoint, small_text, tmp_path):
    _, arrays = read_members(checkpoint)
    value = arrays["opt/mem/Whh"].copy()
    value[0, 0] = np.nan
    assert_refused(
        _altered(checkpoint, tmp_path, "opt/mem/Whh", value), small_text, "NaN or infinite"
    )


def test_missing_and_extra_arrays_are_refused(checkpoint, small_text, tmp_path):
    assert_refused(_altered(checkpoint, tmp_path, "opt/mem/Why", None), small_text, "missing")
    assert_refused(
        _altered(checkpoint, tmp_path, "param/extra", np.zeros(3)), small_text, "unexpected"
    )


def test_parameters_swapped_for_other_values_fail_the_consistency_check(
    checkpoint, small_text, tmp_path
):
    _, arrays = read_members(checkpoint)
    other = np.random.default_rng(3).standard_normal(arrays["param/Why"].shape)
    assert_refused(_altered(checkpoint, tmp_path, "param/Why", other), small_text, "consistency")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("config", {"hidden_size": -1}),
        ("config", {"no_such_setting": 1}),
        ("config", "classic"),
        ("vocab", ["ab", "c"]),
        ("vocab", 42),
        ("step", "many"),
        ("streams", {"offset": 10**9, "epoch": 0, "started": 1}),
        ("streams", None),
        ("rng", {"bit_generator": "PCG64", "state": "garbage"}),
        ("train_curve", {"size": 10**9}),
        ("recent_losses", ["x"]),
        ("samples", [[1]]),
        ("last_inputs", [10**6]),
    ],
)
def test_damaged_metadata_is_refused(checkpoint, small_text, tmp_path, key, value):
    meta, arrays = read_members(checkpoint)
    if key == "config" and isinstance(value, dict):
        value = dict(meta["config"], **value)  # one bad field in an otherwise valid config
    meta[key] = value
    assert_refused(write_members(tmp_path / "meta.npz", meta, arrays), small_text)


def test_save_onto_an_existing_folder_raises_one_line_checkpoint_error(small_text, tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    trainer = Trainer(RESUME_CONFIGS["batched-float64"], small_text)
    with pytest.raises(CheckpointError) as info:
        trainer.save(folder)
    assert "\n" not in str(info.value) and "previous checkpoint" in str(info.value)
    assert list(tmp_path.iterdir()) == [folder], "no temporary file may be left behind"


def test_save_below_a_file_raises_checkpoint_error_not_oserror(small_text, tmp_path):
    # Regression: cleaning up the temporary file with `tmp.unlink(missing_ok=True)` raised
    # NotADirectoryError here (missing_ok covers only FileNotFoundError), so a raw OSError escaped
    # save_checkpoint and Trainer.try_save instead of a CheckpointError.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    trainer = Trainer(RESUME_CONFIGS["batched-float64"], small_text)
    with pytest.raises(CheckpointError) as info:
        trainer.save(blocker / "ckpt.npz")
    assert "\n" not in str(info.value)
    event = trainer.try_save(blocker / "ckpt.npz")
    assert type(event).__name__ == "CheckpointFailed" and "\n" not in event.error


def test_save_keeps_the_exact_name_and_replaces_atomically(small_text, tmp_path):
    trainer = Trainer(RESUME_CONFIGS["batched-float64"], small_text)
    bare = trainer.save(tmp_path / "no-suffix")
    assert bare == tmp_path / "no-suffix" and bare.is_file()  # np.savez would have added .npz
    first = bare.read_bytes()
    run_collecting(trainer, 2)
    trainer.save(bare)
    assert bare.read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-suffix"]
    with zipfile.ZipFile(io.BytesIO(bare.read_bytes())) as zf:
        assert "meta.npy" in zf.namelist()
