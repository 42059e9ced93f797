"""Fuzz the checkpoint loaders: only `CheckpointError` may ever escape, and nothing loads corrupted.

Each case starts from a valid checkpoint (two models: a one-layer Adagrad RNN and a two-layer Adam
GRU) and damages it, either byte by byte (truncation, flips, inserted, deleted or zeroed spans)
or structurally (arrays with other dtypes or shapes, object arrays, hand-written `.npy` headers
declaring huge shapes, missing, extra and renamed members, metadata with wrong types, absurd
numbers, a newer format version, deep nesting, settings that call for gigabytes, compressed or
duplicated zip members, unsupported compression, the encryption flag; counters no run can
have: a step of -5 or 10**30, an epoch or a hyperparameter change beyond the step, a negative
elapsed time). Every case is fed to the
three loaders: `resume_trainer`, `load_model` and `load_checkpoint`.

A case fails when anything other than `CheckpointError` escapes a loader, when damaged bytes
load without complaint but with different contents than the original (silent corruption), or
when a file with tampered counters loads at all.

Cases are reproducible: case i uses `random.Random(seed * 1_000_003 + i)`.

    python bench/fuzz_checkpoint.py --cases 10000          # the benchmark-sized run
    python bench/fuzz_checkpoint.py --cases 200 --seed 7   # a quick one

The tests (tests/test_reliability_fuzz.py) run a few hundred of the same cases.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import time
import traceback
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn_tui.engine import CheckpointError, Config, Trainer, Vocab, load_model, resume_trainer
from rnn_tui.engine.checkpoint import load_checkpoint
from rnn_tui.engine.persistence import checkpoint_layout

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog;", "pack", "my", "box!")
MEMORY_LIMIT = 3 * 1024**3  # address space for the benchmark run: an absurd allocation fails


def corpus_text(chars: int = 3000, seed: int = 5) -> str:
    """A deterministic text of `chars` characters (no corpus files needed)."""
    rng = random.Random(seed)
    out: list[str] = []
    while sum(map(len, out)) < chars:
        out.append(rng.choice(WORDS) + rng.choice("  \n"))
    return "".join(out)[:chars]


BASE_CONFIGS = {
    "rnn-adagrad": Config(
        hidden_size=8,
        seq_length=6,
        batch_size=2,
        val_every=5,
        val_max_chars=200,
        sample_every=7,
        sample_length=12,
    ),
    "gru-adam-2layer": Config(
        cell="gru",
        hidden_size=6,
        num_layers=2,
        seq_length=5,
        batch_size=2,
        optimizer="adam",
        learning_rate=0.01,
        dtype="float32",
        val_every=4,
        val_max_chars=200,
        sample_every=6,
        sample_length=12,
    ),
}


@dataclass
class Base:
    """A valid checkpoint to damage: its bytes, members, metadata and the text it was trained on."""

    name: str
    data: bytes
    members: dict[str, np.ndarray]
    meta: dict
    text: str
    params: dict[str, np.ndarray]


def make_bases(folder: Path) -> list[Base]:
    """Train each base model a few steps and save it."""
    text = corpus_text()
    bases = []
    for name, config in BASE_CONFIGS.items():
        trainer = Trainer(config, text, corpus_name="fuzz")
        trainer.run(lambda event: None, max_steps=23)
        path = trainer.save(folder / f"{name}.npz")
        data = path.read_bytes()
        members = read_members(data)
        meta = json.loads(members["meta"].tobytes())
        params = {k: v.copy() for k, v in trainer.params.items()}
        bases.append(Base(name, data, members, meta, text, params))
    return bases


def read_members(data: bytes) -> dict[str, np.ndarray]:
    """The members of a (valid, our own) .npz."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_members(members: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    """An .npz of `members` (object arrays are pickled by numpy: the loader must refuse them)."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **members)
    return buffer.getvalue()


def with_meta(members: dict[str, np.ndarray], meta_bytes: bytes) -> dict[str, np.ndarray]:
    out = dict(members)
    out["meta"] = np.frombuffer(meta_bytes, dtype=np.uint8)
    return out


def npy_with_header(header: str, payload: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    """A .npy file with a hand-written header dict (no validation: that is the point)."""
    head = header.encode("latin-1")
    pad = 64 - (10 + len(head) + 1) % 64
    head = head + b" " * pad + b"\n"
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head + payload
    return b"\x93NUMPY" + bytes(version) + len(head).to_bytes(4, "little") + head + payload


def zip_of(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, blob in entries:
            zf.writestr(name, blob)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def entries_of(members: dict[str, np.ndarray]) -> list[tuple[str, bytes]]:
    return [(f"{k}.npy", npy_bytes(v)) for k, v in members.items()]


# -- random JSON-ish values for the metadata ---------------------------------------------------


def random_value(rng: random.Random, depth: int = 0):
    """A random JSON value, biased towards the awkward ones."""
    choices = [
        None,
        True,
        False,
        0,
        -1,
        1,
        2**31,
        2**63,
        2**70,
        -(2**70),
        0.5,
        -0.0,
        1e308,
        -1e308,
        float("nan"),
        float("inf"),
        float("-inf"),
        "",
        "x",
        "ab",
        "\x00",
        "é",
        [],
        {},
        [1],
        ["a"],
        {"a": 1},
        {"size": 10**9},
        {"offset": -5, "epoch": 0, "started": 1},
    ]
    if depth < 3 and rng.random() < 0.25:
        if rng.random() < 0.5:
            return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(["a", "size", "state", "x"]): random_value(rng, depth + 1)}
    return rng.choice(choices)


def meta_paths(meta, prefix=()):
    """Every key path in the metadata (dicts only)."""
    paths = []
    if isinstance(meta, dict):
        for key, value in meta.items():
            paths.append((*prefix, key))
            paths.extend(meta_paths(value, (*prefix, key)))
    return paths


def set_path(meta: dict, path: tuple, value) -> None:
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def del_path(meta: dict, path: tuple) -> None:
    node = meta
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


def dumps(meta) -> bytes:
    return json.dumps(meta).encode("utf-8")  # NaN/Infinity allowed on purpose


# -- mutators: each returns (bytes, byte_level) ----------------------------------------------


def m_truncate(rng: random.Random, base: Base):
    return base.data[: rng.randrange(len(base.data))], True


def m_flip(rng: random.Random, base: Base):
    data = bytearray(base.data)
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        i = rng.randrange(len(data))
        data[i] ^= rng.randrange(1, 256)
    return bytes(data), True


def m_flip_structure(rng: random.Random, base: Base):
    """Flips in the zip's headers and the .npy headers, where parsers live."""
    data = bytearray(base.data)
    hot = [i for i in range(len(data) - 4) if data[i : i + 4] in (b"PK\x03\x04", b"PK\x01\x02")]
    hot += [i for i in range(len(data) - 6) if data[i : i + 6] == b"\x93NUMPY"]
    for _ in range(rng.choice([1, 2, 4])):
        start = rng.choice(hot) if hot and rng.random() < 0.8 else len(data) - 22
        i = min(len(data) - 1, max(0, start + rng.randrange(0, 90)))
        data[i] ^= rng.randrange(1, 256)
    return bytes(data), True


def m_splice(rng: random.Random, base: Base):
    data = bytearray(base.data)
    i = rng.randrange(len(data))
    n = rng.choice([1, 2, 7, 100, 4096])
    action = rng.choice(["insert", "delete", "zero", "duplicate"])
    if action == "insert":
        data[i:i] = bytes(rng.randrange(256) for _ in range(n))
    elif action == "delete":
        del data[i : i + n]
    elif action == "zero":
        data[i : i + n] = bytes(len(data[i : i + n]))
    else:
        data[i:i] = data[i : i + n]
    return bytes(data), True


def m_random_bytes(rng: random.Random, base: Base):
    n = rng.choice([0, 1, 4, 22, 100, 5000])
    prefix = rng.choice([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY"])
    return prefix + bytes(rng.randrange(256) for _ in range(n)), True


def m_dtype(rng: random.Random, base: Base):
    members = dict(base.members)
    name = rng.choice([k for k in members if k != "meta"] + ["meta"])
    target = rng.choice(
        ["<f4", "<f8", ">f8", "<i8", "|u1", "<c16", "|b1", "<U3", "|S3", "<f2", "<i4"]
    )
    try:
        members[name] = members[name].astype(target)
    except (TypeError, ValueError):
        members[name] = np.zeros(members[name].shape, dtype=target)
    return write_members(members), False


def m_shape(rng: random.Random, base: Base):
    members = dict(base.members)
    name = rng.choice([k for k in members if k != "meta"] + ["meta"])
    a = members[name]
    how = rng.choice(["flat", "axis", "transpose", "shorter", "longer", "scalar", "empty"])
    if how == "flat":
        a = a.reshape(-1)
    elif how == "axis":
        a = a[None]
    elif how == "transpose":
        a = a.T.copy() if a.ndim > 1 else a.reshape(-1, 1)
    elif how == "shorter":
        a = a[:-1] if a.ndim and len(a) else a.reshape(1)
    elif how == "longer":
        a = np.concatenate([a, a]) if a.ndim else np.stack([a, a])
    elif how == "scalar":
        a = np.asarray(a.reshape(-1)[0] if a.size else 0, dtype=a.dtype)
    else:
        a = np.zeros((0,) * max(1, a.ndim), dtype=a.dtype)
    members[name] = a
    return write_members(members), False


def m_object_array(rng: random.Random, base: Base):
    members = dict(base.members)
    name = rng.choice([k for k in members if k != "meta"] + ["meta"])
    obj = np.empty(members[name].shape or (1,), dtype=object)
    value = rng.choice([0.5, "x", None, (1, 2)])
    for i in range(obj.size):
        obj.flat[i] = value
    members[name] = obj
    return write_members(members), False


def m_huge_header(rng: random.Random, base: Base):
    """A hand-written .npy header: huge or negative shapes, odd descrs, Python in the header."""
    name = rng.choice([k for k in base.members if k != "meta"] + ["meta"])
    true = base.members[name]
    descr = rng.choice(["<f8", "<f4", "|u1", "|O", "<V8", "[('a', '<f8')]", "'<f8'", "1", ""])
    shape = rng.choice(
        [
            "(2**40,)",
            "(1099511627776, 1048576)",
            "(9223372036854775807,)",
            "(-1,)",
            "(-5, 3)",
            str(true.shape),
            "()",
            "(1e3,)",
            "('a',)",
            "[3]",
            "(" + "(" * 500 + ")" * 500 + ",)",
        ]
    )
    fortran = rng.choice(["False", "True", "0", "'no'"])
    if descr.startswith("["):
        header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    elif descr.startswith("'") or descr in ("1", ""):
        header = f"{{'descr': {descr or 'None'}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    else:
        header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if rng.random() < 0.1:
        header = rng.choice(
            [
                "{'descr': __import__('os').getcwd(), 'fortran_order': False, 'shape': (1,)}",
                "[1, 2, 3]",
                "{",
                "",
                "{'descr': '<f8'}",
            ]
        )
    version = rng.choice([(1, 0), (2, 0), (3, 0), (9, 9)])
    payload = true.tobytes()[: rng.choice([0, 8, len(true.tobytes())])]
    entries = entries_of({k: v for k, v in base.members.items() if k != name})
    entries.append((f"{name}.npy", npy_with_header(header, payload, version)))
    rng.shuffle(entries)
    return zip_of(entries), False


def m_members(rng: random.Random, base: Base):
    members = dict(base.members)
    names = [k for k in members if k != "meta"]
    how = rng.choice(["drop", "extra", "rename", "drop-meta", "non-npy", "dir"])
    if how == "drop":
        del members[rng.choice(names)]
    elif how == "extra":
        members[rng.choice(["param/extra", "opt/mem/x", "zzz", "state2"])] = np.zeros(3)
    elif how == "rename":
        old = rng.choice(names)
        members[old + "_"] = members.pop(old)
    elif how == "drop-meta":
        del members["meta"]
    entries = entries_of(members)
    if how == "non-npy":
        entries.append((rng.choice(["readme.txt", "meta", "param/Wxh"]), b"hello"))
    elif how == "dir":
        entries.append(("sub/", b""))
    return zip_of(entries), False


def m_meta_value(rng: random.Random, base: Base):
    meta = json.loads(json.dumps(base.meta))
    paths = meta_paths(meta)
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = meta_paths(meta)
        if not paths:
            break
        path = rng.choice(paths)
        try:
            if rng.random() < 0.2:
                del_path(meta, path)
            else:
                set_path(meta, path, random_value(rng))
        except (KeyError, TypeError):
            pass
    return write_members(with_meta(base.members, dumps(meta))), False


def m_meta_settings(rng: random.Random, base: Base):
    """Settings that change shapes: absurd sizes, another cell/optimizer/dtype, another vocabulary."""
    meta = json.loads(json.dumps(base.meta))
    config = meta["config"]
    how = rng.choice(
        ["huge", "cell", "optimizer", "dtype", "layers", "vocab-", "vocab+", "vocab-big", "curve"]
    )
    if how == "huge":
        config.update(
            hidden_size=rng.choice([2048, 8192]),
            num_layers=rng.choice([1, 4, 16]),
            batch_size=rng.choice([1, 4096]),
            seq_length=rng.choice([5, 10_000]),
        )
    elif how == "cell":
        config["cell"] = rng.choice(["rnn", "lstm", "gru"])
    elif how == "optimizer":
        config["optimizer"] = rng.choice(["adagrad", "adam", "sgd"])
    elif how == "dtype":
        config["dtype"] = rng.choice(["float32", "float64"])
    elif how == "layers":
        config["num_layers"] = rng.choice([1, 2, 3])
    elif how == "vocab-":
        meta["vocab"] = meta["vocab"][1:]
    elif how == "vocab+":
        meta["vocab"] = sorted({*meta["vocab"], "Z"})
    elif how == "vocab-big":
        meta["vocab"] = [chr(0x4E00 + i) for i in range(rng.choice([300, 70_000]))]
    else:
        key = rng.choice(["train_curve", "val_curve"])
        meta[key]["size"] = rng.choice([-1, 10**12, 5, 2**40])
    return write_members(with_meta(base.members, dumps(meta))), False


def m_meta_document(rng: random.Random, base: Base):
    """The metadata document itself: version, format, encoding, nesting, numbers."""
    meta = json.loads(json.dumps(base.meta))
    how = rng.choice(
        ["version", "format", "not-json", "latin1", "list", "deep", "bigint", "nan", "empty"]
    )
    if how == "version":
        meta["version"] = rng.choice([2, 99, 0, -1, "1", 1.5, True, None, 2**80])
        raw = dumps(meta)
    elif how == "format":
        meta["format"] = rng.choice(["", "rnn-tui", None, 1])
        raw = dumps(meta)
    elif how == "not-json":
        raw = dumps(meta)[: rng.randrange(1, 50)]
    elif how == "latin1":
        raw = dumps(meta).replace(b"{", b"{\xff", 1)
    elif how == "list":
        raw = b"[1, 2, 3]"
    elif how == "deep":
        depth = rng.choice([1000, 100_000])
        raw = dumps(meta)[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    elif how == "bigint":
        raw = dumps(meta)[:-1] + b', "x": ' + b"9" * rng.choice([5000, 100_000]) + b"}"
    elif how == "nan":
        raw = dumps(meta).replace(b'"step": ', b'"step": NaN, "s": ', 1)
    else:
        raw = b""
    return write_members(with_meta(base.members, raw)), False


def m_zip(rng: random.Random, base: Base):
    """Zip-level oddities: compression, duplicates, unsupported methods, the encryption flag."""
    how = rng.choice(["compressed", "duplicate", "method", "encrypted", "comment", "stored-zip64"])
    if how == "compressed":  # legitimate content, just deflated: must load or be refused cleanly
        return write_members(base.members, compressed=True), False
    entries = entries_of(base.members)
    if how == "duplicate":
        name, _ = rng.choice(entries)
        entries.append((name, npy_bytes(np.zeros(2))))
        return zip_of(entries), False
    data = bytearray(zip_of(entries))
    if how in ("method", "encrypted"):
        central = [i for i in range(len(data) - 4) if data[i : i + 4] == b"PK\x01\x02"]
        local = [i for i in range(len(data) - 4) if data[i : i + 4] == b"PK\x03\x04"]
        target = rng.randrange(len(central))
        if how == "method":
            method = rng.choice([1, 6, 9, 12, 14, 99]).to_bytes(2, "little")
            data[central[target] + 10 : central[target] + 12] = method
            data[local[target] + 8 : local[target] + 10] = method
        else:
            data[central[target] + 8] |= 1
            data[local[target] + 6] |= 1
        return bytes(data), False
    if how == "comment":
        with zipfile.ZipFile(io.BytesIO(bytes(data)), "a") as zf:
            zf.comment = bytes(rng.randrange(256) for _ in range(100))
        return bytes(data), False
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, blob in entries:
            with zf.open(name, "w", force_zip64=True) as handle:
                handle.write(blob)
    return buffer.getvalue(), False


def m_counters(rng: random.Random, base: Base):
    """Counters no run can have: every loader must refuse them (the third value says so)."""
    meta = json.loads(json.dumps(base.meta))
    step = meta["step"]
    curve = rng.choice(["train_curve", "val_curve"])
    tampered = [
        ("step", rng.choice([-5, -1, 10**30, 2**80, 1.5, "3", True, None, [1]])),
        ("elapsed", rng.choice([-1.0, -1e-9, 1e300, "nan", "inf", "-inf", True, "x"])),
        ("streams.epoch", rng.choice([-1, step + 2, 10**30, 0.5, None])),
        ("streams.offset", rng.choice([-1, -(2**70), 2**60, 1.25, "0"])),
        ("streams.started", rng.choice([2, -1, 0.5, "yes"])),
        ("sample_requests", rng.choice([-1, 10**30, 2.5, False])),
        ("hparam_change_steps", rng.choice([[step + 1], [-1], [0.5], "1", [None]])),
        ("samples", rng.choice([[[step + 1, "x"]], [[-3, "x"]], [[1.5, "x"]], [["1", "x"]], [1]])),
        (f"{curve}.size", rng.choice([-1, 10**9, 2.0, True])),
        (f"{curve}.stride", rng.choice([0, -2, 2**70, 1.0])),
        (f"{curve}.acc_count", rng.choice([-1, "stride", 10**20])),
        (f"{curve}.acc_step", rng.choice(["nan", "inf", -1.0])),
        ("last_target", rng.choice([-1, 2**60, 1.5])),
        ("last_inputs", rng.choice([[-1], [2**60], [0.5], 7])),
    ]
    key, value = rng.choice(tampered)
    path = tuple(key.split("."))
    if value in ("nan", "inf", "-inf"):
        value = float(value)
    elif value == "stride":
        value = meta[path[0]]["stride"]  # a whole stride pending: it would have been flushed
    set_path(meta, path, value)
    return write_members(with_meta(base.members, dumps(meta))), False, True


MUTATORS: dict[str, Callable] = {
    "truncate": m_truncate,
    "flip": m_flip,
    "flip-structure": m_flip_structure,
    "splice": m_splice,
    "random-bytes": m_random_bytes,
    "dtype": m_dtype,
    "shape": m_shape,
    "object-array": m_object_array,
    "npy-header": m_huge_header,
    "members": m_members,
    "meta-value": m_meta_value,
    "meta-settings": m_meta_settings,
    "meta-document": m_meta_document,
    "zip": m_zip,
    "counters": m_counters,
}


# -- running cases ----------------------------------------------------------------------------


def layout_from_meta(meta: dict) -> dict:
    return checkpoint_layout(Config.from_dict(meta["config"]), len(Vocab(meta["vocab"])), meta)


@dataclass
class Report:
    """Outcome counts per mutator, and every failure with how to reproduce it."""

    cases: int = 0
    refused: Counter = field(default_factory=Counter)  # loader calls that raised CheckpointError
    loaded: Counter = field(default_factory=Counter)  # loader calls that succeeded
    by_kind: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    messages: Counter = field(default_factory=Counter)

    def merge(self, other: Report) -> None:
        self.cases += other.cases
        self.refused.update(other.refused)
        self.loaded.update(other.loaded)
        self.by_kind.update(other.by_kind)
        self.failures.extend(other.failures)
        self.messages.update(other.messages)


def check_case(
    path: Path,
    base: Base,
    byte_level: bool,
    label: str,
    report: Report,
    must_refuse: bool = False,
) -> None:
    """Feed one file to the three loaders and record what happened."""
    loaders = {
        "from_checkpoint": lambda: resume_trainer(path, base.text),
        "load_model": lambda: load_model(path),
        "load_checkpoint": lambda: load_checkpoint(path, expected_from_meta=layout_from_meta),
    }
    for loader_name, load in loaders.items():
        try:
            result = load()
        except CheckpointError as exc:
            message = str(exc)
            if "\n" in message or not message:
                report.failures.append(f"{label} {loader_name}: message not one line: {message!r}")
            report.refused[loader_name] += 1
            report.messages[_message_kind(message)] += 1
            continue
        except BaseException as exc:  # anything else is exactly what we hunt
            if isinstance(exc, KeyboardInterrupt):
                raise
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]
            report.failures.append(
                f"{label} {loader_name}: {type(exc).__name__}: {str(exc)[:200]} | {''.join(tb)}"
            )
            continue
        report.loaded[loader_name] += 1
        if must_refuse:
            report.failures.append(f"{label} {loader_name}: tampered counters loaded")
        if byte_level:
            params = _params_of(loader_name, result)
            for name, value in base.params.items():
                if name not in params or not np.array_equal(params[name], value):
                    report.failures.append(
                        f"{label} {loader_name}: damaged bytes loaded with a different {name!r}"
                    )
                    break


def _params_of(loader_name: str, result) -> dict[str, np.ndarray]:
    if loader_name == "from_checkpoint":
        return result.params
    if loader_name == "load_model":
        return result.params
    return {k[len("param/") :]: v for k, v in result.arrays.items() if k.startswith("param/")}


def _message_kind(message: str) -> str:
    """A short bucket for a refusal message (for the summary)."""
    for key in (
        "does not exist",
        "not a valid .npz",
        "newer rnn-tui",
        "header is damaged",
        "has dtype",
        "has shape",
        "do not match its settings",
        "far more than",
        "metadata is not valid JSON",
        "metadata is malformed",
        "metadata is truncated",
        "metadata is incomplete",
        "settings are invalid",
        "consistency check",
        "different text",
        "never saw",
        "cannot be read",
        "truncated?",
        "NaN or infinite",
        "counters are invalid",
        "not an rnn-tui checkpoint",
        "format version",
        "no 'meta' array",
        "is unusable",
    ):
        if key in message:
            return key
    return message[:60]


def run_cases(
    bases: list[Base],
    first: int,
    count: int,
    seed: int,
    folder: Path,
    kinds: list[str] | None = None,
) -> Report:
    """Cases first .. first+count-1: mutate, write, load three ways."""
    report = Report()
    names = kinds or list(MUTATORS)
    path = folder / "case.npz"
    for i in range(first, first + count):
        rng = random.Random(seed * 1_000_003 + i)
        kind = rng.choice(names)
        base = rng.choice(bases)
        label = f"case {i} (seed {seed}, {kind}, {base.name})"
        try:
            data, byte_level, *rest = MUTATORS[kind](rng, base)
        except Exception as exc:  # a mutator bug, not a loader bug: report it loudly anyway
            report.failures.append(f"{label}: the mutator itself failed: {exc!r}")
            continue
        path.write_bytes(data)
        report.cases += 1
        report.by_kind[kind] += 1
        check_case(path, base, byte_level, label, report, must_refuse=bool(rest and rest[0]))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-memory-limit",
        action="store_true",
        help=f"do not cap the address space at {MEMORY_LIMIT // 1024**3} GiB",
    )
    args = parser.parse_args(argv)
    if not args.no_memory_limit:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        except (ImportError, ValueError, OSError):
            print("(could not limit memory; absurd allocations may swap instead of failing)")
    np.seterr(all="ignore")
    warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we write on purpose
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bases = make_bases(folder)
        report = run_cases(bases, 0, args.cases, args.seed, folder)
    elapsed = time.perf_counter() - start
    calls = sum(report.refused.values()) + sum(report.loaded.values())
    print(
        f"{report.cases:,} cases, {calls:,} loader calls in {elapsed:.1f} s "
        f"({report.cases / elapsed:.0f} cases/s), seed {args.seed}"
    )
    print("cases per mutator: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_kind.items())))
    print(
        "refused with CheckpointError: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.refused.items()))
    )
    print("loaded: " + ", ".join(f"{k} {v}" for k, v in sorted(report.loaded.items())))
    print(
        "refusals by message: " + ", ".join(f"{k!r} {v}" for k, v in report.messages.most_common())
    )
    if report.failures:
        print(f"FAILED: {len(report.failures)} escapes or silent corruptions; first ones:")
        for line in report.failures[:20]:
            print("  " + line)
        return 1
    print("OK: only CheckpointError escaped, and no damaged file loaded with different contents")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
