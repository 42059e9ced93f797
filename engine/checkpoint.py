"""Checkpoints: one `.npz` holding the complete training state, written atomically, read safely.

Layout: `meta` is UTF-8 JSON (as a uint8 array) with the format version, config, vocab, corpus hash,
counters, RNG states and small histories; every other member is a numeric array whose name,
shape and dtype the loader checks against what the config implies, reading only the `.npy`
headers before any data is allocated. Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "rnn-tui-checkpoint"
FORMAT_VERSION = 1
MAX_META_BYTES = 16 * 1024 * 1024
MAX_ARRAY_BYTES = 8 * 1024**3
# Arrays may declare at most this many times the file's own size (rnn-tui writes them
# uncompressed, so a real checkpoint is about 1x; a zip bomb is thousands of times).
MAX_EXPANSION = 64
# What parsing a damaged zip or .npy header can raise, besides the loader's own checks.
DAMAGED = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    NotImplementedError,
    SyntaxError,
    TypeError,
    RuntimeError,
    OverflowError,
    RecursionError,
    KeyError,
    IndexError,
    tokenize.TokenError,  # numpy tokenizes the header dict before safe-evaluating it
)


class CheckpointError(Exception):
    """A checkpoint cannot be written or used; the one-line message says what to do."""


@dataclass
class CheckpointData:
    """What a checkpoint holds: JSON-able metadata and named numeric arrays."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def save_checkpoint(path: str | os.PathLike, data: CheckpointData) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then os.replace.

    Either the old file or the complete new one exists at `path` afterwards, never half of one.
    Raises CheckpointError (with the OS reason) when the folder is missing, read-only or full.
    """
    path = Path(path)
    meta = dict(data.meta, format=FORMAT_NAME, version=FORMAT_VERSION)
    members = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    members.update(data.arrays)
    tmp = temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # np.savez would append ".npz" to a bare name; writing through a handle keeps ours
        with open(tmp, "wb") as handle:
            np.savez(handle, **members)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        remove_stale_temporaries(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise CheckpointError(
            f"could not write checkpoint {path}: {reason}; the previous checkpoint (if any) is unchanged"
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


def temporary_name(path: Path) -> Path:
    """Where `save_checkpoint` writes before the rename: hidden, beside `path`, named by our pid."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files of `path` left by processes that died mid-write (e.g. kill -9).

    A temporary file names its writer's pid; files of live processes (a concurrent save) are kept.
    """
    path = Path(path)
    pattern = re.compile(r"\." + re.escape(path.name) + r"\.(\d+)\.tmp$")
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        try:
            os.unlink(path.parent / name)
        except OSError:
            continue
        removed.append(path.parent / name)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists (a pid reused by another process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    except OSError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint, after checking it is a readable checkpoint of a known version."""
    path = Path(path)
    with _open_zip(path) as zf:
        return _read_meta(zf, path)


def load_checkpoint(
    path: str | os.PathLike,
    expected: dict[str, tuple[tuple[int, ...], str]] | None = None,
    expected_from_meta=None,
) -> CheckpointData:
    """Read a checkpoint, validating every member's name, shape and dtype before loading it.

    `expected` maps member name -> (shape, dtype name); alternatively `expected_from_meta(meta)`
    computes it from the metadata (the config decides the shapes). Extra or missing members,
    wrong shapes or dtypes, object arrays and non-finite parameters are all CheckpointError.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        meta = _read_meta(zf, path)
        if expected is None:
            if expected_from_meta is None:
                raise ValueError("pass expected or expected_from_meta")
            try:
                expected = expected_from_meta(meta)
            except (KeyError, TypeError, ValueError) as exc:
                raise _corrupt(path, f"its settings are invalid ({exc})") from None
        _check_arrays(zf, path, expected)
        arrays = {}
        for name, (shape, dtype) in expected.items():
            arrays[name] = _read_array(zf, path, name, tuple(shape), np.dtype(dtype))
    return CheckpointData(meta=meta, arrays=arrays)


def check_arrays(path: str | os.PathLike, expected: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Check member names, `.npy` headers and sizes against `expected` without reading any data.

    Call it before building anything sized by a checkpoint's settings: settings that claim
    absurd arrays (more than the file could hold) are refused before a byte is allocated.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        _check_arrays(zf, path, expected)


def _check_arrays(
    zf: zipfile.ZipFile, path: Path, expected: dict[str, tuple[tuple[int, ...], str]]
) -> None:
    names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")} - {"meta"}
    missing = sorted(set(expected) - names)
    extra = sorted(names - set(expected))
    if missing or extra:
        detail = (
            f"missing {', '.join(missing[:5])}" if missing else f"unexpected {', '.join(extra[:5])}"
        )
        raise _corrupt(path, f"its arrays do not match its settings ({detail})")
    try:
        file_size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    sizes = [math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in expected.values()]
    total = sum(sizes)
    if max(sizes, default=0) > MAX_ARRAY_BYTES or total > MAX_EXPANSION * file_size + (1 << 20):
        raise _corrupt(
            path,
            f"its settings call for {total:,} bytes of arrays, far more than the "
            f"{file_size:,}-byte file holds",
        )
    for name, (shape, dtype) in expected.items():
        handle, _, got_shape, _, got_dtype = _read_header(zf, path, name)
        handle.close()
        _check_header(path, name, shape, np.dtype(dtype), tuple(got_shape), got_dtype)


def _check_header(
    path: Path,
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    got_shape: tuple[int, ...],
    got_dtype: np.dtype,
) -> None:
    if got_dtype.hasobject or got_dtype != dtype:
        raise _corrupt(path, f"array {name!r} has dtype {got_dtype}, expected {dtype}")
    if tuple(got_shape) != tuple(shape):
        raise _corrupt(path, f"array {name!r} has shape {tuple(got_shape)}, expected {shape}")


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist; check the path (runs save under runs/<name>/)"
        )
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass a checkpoint file (.npz) inside it")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    try:
        return zipfile.ZipFile(path)
    except DAMAGED:  # includes OSError: a bogus directory offset makes seek fail
        raise _not_npz(path) from None


def _not_npz(path: Path) -> CheckpointError:
    return _corrupt(
        path, "it is not a checkpoint file (not a valid .npz archive; truncated or corrupt?)"
    )


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} is unusable: {why}; use another checkpoint or start a new run"
    )


def _read_header(zf: zipfile.ZipFile, path: Path, name: str):
    try:
        info = zf.getinfo(name + ".npy")
    except KeyError:
        raise _corrupt(path, f"it has no {name!r} array") from None
    try:
        handle = zf.open(info)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except DAMAGED as exc:
        raise _corrupt(path, f"the {name!r} array header is damaged ({exc})") from None
    return handle, info, shape, fortran, dtype


def _read_array(
    zf: zipfile.ZipFile, path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    handle, info, got_shape, fortran, got_dtype = _read_header(zf, path, name)
    with handle:
        _check_header(path, name, shape, dtype, tuple(got_shape), got_dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES or info.file_size > MAX_ARRAY_BYTES + 4096:
            raise _corrupt(path, f"array {name!r} is implausibly large")
        try:
            raw = handle.read(nbytes + 1)
        except DAMAGED as exc:
            raise _corrupt(path, f"array {name!r} cannot be read ({exc})") from None
    if len(raw) != nbytes:
        raise _corrupt(
            path, f"array {name!r} holds {len(raw)} bytes, expected {nbytes} (truncated?)"
        )
    array = np.frombuffer(raw, dtype=dtype)
    array = array.reshape(shape, order="F" if fortran else "C").copy()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise _corrupt(path, f"array {name!r} contains NaN or infinite values")
    return array


def _read_meta(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    handle, _, shape, _, dtype = _read_header(zf, path, "meta")
    with handle:
        if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_META_BYTES:
            raise _corrupt(path, "its metadata is malformed")
        try:
            raw = handle.read(shape[0] + 1)
        except DAMAGED as exc:
            raise _corrupt(path, f"its metadata cannot be read ({exc})") from None
    if len(raw) != shape[0]:
        raise _corrupt(path, "its metadata is truncated")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, absurd numbers, absurd nesting
        raise _corrupt(path, "its metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _corrupt(path, "it is not an rnn-tui checkpoint")
    version = meta.get("version")
    if not isinstance(version, int):
        raise _corrupt(path, "it has no format version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} was written by a newer rnn-tui (format {version}, this one reads up to "
            f"{FORMAT_VERSION}); upgrade rnn-tui (pip install -U rnn-tui) to use it"
        )
    if version < 1:
        raise _corrupt(path, f"format version {version} is unknown")
    return meta
