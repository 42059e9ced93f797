"""Fuzzing the checkpoint loaders (CI size): only CheckpointError ever escapes, nothing loads corrupted.

The mutators live in bench/fuzz_checkpoint.py, whose benchmark run does 10,000 cases; here every
mutator family gets its own few dozen cases, plus a Hypothesis search over metadata values and a
few hand-made files that once escaped (or allocated gigabytes) before the loader was fixed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_tui.engine import CheckpointError, load_model, resume_trainer
from rnn_tui.engine.checkpoint import load_checkpoint, read_meta

BENCH = Path(__file__).resolve().parents[1] / "bench" / "fuzz_checkpoint.py"
CASES_PER_MUTATOR = 24


def _load_bench():
    spec = importlib.util.spec_from_file_location("fuzz_checkpoint", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


fuzz = _load_bench()


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    return fuzz.make_bases(tmp_path_factory.mktemp("bases"))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # duplicate zip names, overflow in wrecked weights
        yield


@pytest.mark.parametrize("kind", list(fuzz.MUTATORS))
def test_only_checkpoint_error_escapes_the_loaders(kind, bases, tmp_path):
    report = fuzz.run_cases(bases, 0, CASES_PER_MUTATOR, seed=2024, folder=tmp_path, kinds=[kind])
    assert report.failures == []
    assert report.cases == CASES_PER_MUTATOR
    assert sum(report.refused.values()) > 0  # the mutator really damages files


def test_a_loader_that_leaks_other_errors_is_caught_by_the_harness(bases, tmp_path, monkeypatch):
    """The fuzz harness can fail: a loader raising KeyError or loading altered bytes is reported."""
    monkeypatch.setattr(fuzz, "load_model", lambda path: {}["boom"])
    report = fuzz.run_cases(bases, 0, 3, seed=1, folder=tmp_path, kinds=["flip"])
    assert any("KeyError" in line for line in report.failures)

    base = bases[0]
    altered = {k: v + 1.0 for k, v in base.params.items()}
    monkeypatch.setattr(fuzz, "_params_of", lambda loader, result: altered)
    path = tmp_path / "same.npz"
    path.write_bytes(base.data)
    report = fuzz.Report()
    fuzz.check_case(path, base, True, "unchanged bytes", report)
    assert any("different" in line for line in report.failures)


# -- metadata values, searched by Hypothesis ----------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["size", "state", "offset", "a"]), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_metadata_value_anywhere_is_refused_or_harmless(bases, tmp_path, data):
    base = data.draw(st.sampled_from(bases))
    meta = json.loads(json.dumps(base.meta))
    path_to = data.draw(st.sampled_from(fuzz.meta_paths(meta)))
    if data.draw(st.booleans()):
        fuzz.set_path(meta, path_to, data.draw(json_values))
    else:
        fuzz.del_path(meta, path_to)
    file = tmp_path / "meta.npz"
    file.write_bytes(fuzz.write_members(fuzz.with_meta(base.members, fuzz.dumps(meta))))
    for load in (
        lambda: resume_trainer(file, base.text),
        lambda: load_model(file),
        lambda: load_checkpoint(file, expected_from_meta=fuzz.layout_from_meta),
    ):
        try:
            load()
        except CheckpointError as exc:
            assert "\n" not in str(exc)


# -- files that used to escape or to allocate before being refused ------------------------------


def rewrite(base, change_meta=None, raw_meta: bytes | None = None, **members) -> bytes:
    meta = json.loads(json.dumps(base.meta))
    if change_meta:
        change_meta(meta)
    arrays = dict(base.members, **members)
    return fuzz.write_members(fuzz.with_meta(arrays, raw_meta or fuzz.dumps(meta)))


def refused(path: Path, text: str, match: str) -> None:
    for load in (lambda: resume_trainer(path, text), lambda: load_model(path)):
        with pytest.raises(CheckpointError, match=match):
            load()


@pytest.mark.parametrize(
    "raw, match",
    [
        (b'{"x": ' + b"9" * 5000 + b"}", "not valid JSON"),  # int too long to convert
        (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid JSON"),  # recursion
        (b"\xff\xfe{}", "not valid JSON"),
    ],
    ids=["huge-integer", "deep-nesting", "not-utf8"],
)
def test_hostile_metadata_documents_are_refused(bases, tmp_path, raw, match):
    path = tmp_path / "bad.npz"
    path.write_bytes(rewrite(bases[0], raw_meta=raw))
    refused(path, bases[0].text, match)
    with pytest.raises(CheckpointError, match=match):
        read_meta(path)


@pytest.mark.parametrize(
    "key, value",
    [
        ("step", float("inf")),  # int(inf) is OverflowError
        ("rng", "huge-state"),  # a PCG64 state beyond 128 bits
        ("last_inputs", [2**70]),
        ("train_curve", "infinite-stride"),
        ("probe_loss", None),  # no stored loss: the consistency check cannot pass
    ],
)
def test_metadata_values_that_used_to_escape_are_refused(bases, tmp_path, key, value):
    base = bases[0]

    def change(meta):
        if value == "huge-state":
            meta["rng"]["state"]["state"] = 2**200
        elif value == "infinite-stride":
            meta["train_curve"]["stride"] = float("inf")
        elif value is None:
            del meta[key]
        else:
            meta[key] = value

    path = tmp_path / "bad.npz"
    path.write_bytes(rewrite(base, change))
    with pytest.raises(CheckpointError):
        resume_trainer(path, base.text)


def test_npy_header_that_does_not_tokenize_is_refused(bases, tmp_path):
    base = bases[0]
    entries = fuzz.entries_of({k: v for k, v in base.members.items() if k != "param/Why"})
    entries.append(("param/Why.npy", fuzz.npy_with_header("{", b"")))
    path = tmp_path / "bad.npz"
    path.write_bytes(fuzz.zip_of(entries))
    refused(path, base.text, "header is damaged")


def peak_bytes(load) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="far more than"):
            load()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_settings_claiming_gigabytes_are_refused_before_allocating(bases, tmp_path):
    """hidden 8192 x batch 4096 needs ~1 GB of state alone; the file is a few KB. Refuse early."""
    base = bases[0]
    path = tmp_path / "absurd.npz"
    path.write_bytes(
        rewrite(
            base, lambda m: m["config"].update(hidden_size=8192, batch_size=4096, seq_length=9999)
        )
    )
    for load in (lambda: resume_trainer(path, base.text), lambda: load_model(path)):
        assert peak_bytes(load) < 32 * 1024**2


def test_a_compressed_bomb_is_refused_before_decompressing(bases, tmp_path):
    """Zero arrays of the claimed shapes deflate ~1000:1; their size, not the file's, is refused."""
    base = bases[0]
    meta = json.loads(json.dumps(base.meta))
    meta["config"]["hidden_size"] = 1024
    from rnn_tui.engine.persistence import checkpoint_layout

    layout = fuzz.layout_from_meta(meta)
    assert layout == checkpoint_layout(
        fuzz.Config.from_dict(meta["config"]), len(meta["vocab"]), meta
    )
    members = {name: np.zeros(shape, dtype) for name, (shape, dtype) in layout.items()}
    members["meta"] = np.frombuffer(fuzz.dumps(meta), dtype=np.uint8)
    path = tmp_path / "bomb.npz"
    path.write_bytes(fuzz.write_members(members, compressed=True))
    assert path.stat().st_size < 200_000
    assert peak_bytes(lambda: load_model(path)) < 32 * 1024**2


def test_an_honestly_compressed_checkpoint_still_loads(bases, tmp_path):
    base = bases[0]
    path = tmp_path / "deflated.npz"
    path.write_bytes(fuzz.write_members(base.members, compressed=True))
    trainer = resume_trainer(path, base.text)
    for name, value in base.params.items():
        assert np.array_equal(trainer.params[name], value)


@pytest.mark.parametrize("how", ["unknown-method", "encrypted"])
def test_unsupported_compression_and_encryption_flags_are_refused(bases, tmp_path, how):
    """zipfile raises NotImplementedError / RuntimeError for these: the loader turns them into
    CheckpointError (the first member, meta, is patched in both its local and central headers)."""
    base = bases[0]
    blob = bytearray(fuzz.zip_of(fuzz.entries_of(base.members)))
    central = blob.index(b"PK\x01\x02")
    local = blob.index(b"PK\x03\x04")
    if how == "unknown-method":
        blob[central + 10 : central + 12] = (99).to_bytes(2, "little")
        blob[local + 8 : local + 10] = (99).to_bytes(2, "little")
    else:
        blob[central + 8] |= 1
        blob[local + 6] |= 1
    path = tmp_path / f"{how}.npz"
    path.write_bytes(bytes(blob))
    refused(path, base.text, "unusable")
