"""Checkpoints: one `.npz` holding the complete training state, written atomically, read safely.

Layout: `meta` is UTF-8 JSON (as a uint8 array) with the format version, config, vocab, corpus hash,
counters, RNG states and small histories; every other member is a numeric array whose name,
shape and dtype the loader checks against what the config implies, reading only the `.npy`
headers before any data is allocated. Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import struct
import time
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

FORMAT_NAME = "rnn-tui-checkpoint"
FORMAT_VERSION = 1
MAX_META_BYTES = 16 * 1024 * 1024
MAX_ARRAY_BYTES = 8 * 1024**3
# Arrays may declare at most this many times the file's own size (rnn-tui writes them
# uncompressed, so a real checkpoint is about 1x; a zip bomb is thousands of times).
MAX_EXPANSION = 64
# The largest checkpoint file the loader opens. A real one is about the size of its arrays
# (parameters plus optimiser slots, uncompressed), so four of the largest allowed array make a
# generous ceiling; anything beyond is refused before the zip directory is even parsed.
MAX_CHECKPOINT_BYTES = 4 * MAX_ARRAY_BYTES
# Sane ceilings for the counters a checkpoint stores (check_counters). A step takes at least
# ~10 microseconds, so 10**13 steps is over three years of the fastest model; 10**10 seconds is
# three centuries of training time.
MAX_STEP = 10**13
MAX_ELAPSED_SECONDS = 1e10
MAX_LIST_ITEMS = 1_000_000  # entries in a stored history list (hparam changes, losses, samples)
MAX_INDEX = 2**48  # stream offsets, character ids: far beyond any text rnn-tui can hold
# Flags for a temporary file: created here and now (never an existing file), never through a
# symbolic link planted at its name. O_NOFOLLOW is missing on some platforms: 0 there.
TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
TEMPORARY_ATTEMPTS = 100
# A test hook, inert unless set: tests/test_reliability_processes.py names a folder here to kill
# a writer inside a save, deterministically. The writer then creates `saving-<pid>` in that
# folder once its temporary file is complete, and waits until `go` appears there to rename it.
SAVE_GATE_ENV = "RNN_TUI_TEST_SAVE_GATE"
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


class _NewerFormat(CheckpointError):
    """A checkpoint written by a newer rnn-tui: ours, but not ours to read or to overwrite."""


class _Unreadable(CheckpointError):
    """The file cannot be opened or read at all (permissions, I/O): says nothing of its contents."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class CheckpointData:
    """What a checkpoint holds: JSON-able metadata and named numeric arrays."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def save_checkpoint(path: str | os.PathLike, data: CheckpointData) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then os.replace.

    Either the old file or the complete new one exists at `path` afterwards, never half of one.
    Only a path that does not exist or holds an rnn-tui checkpoint is written: anything else is
    refused before a byte is written (see check_checkpoint_target). Raises CheckpointError (with
    the OS reason) when the folder is missing, read-only or full.
    """
    path = Path(path)
    check_checkpoint_target(path)
    meta = dict(data.meta, format=FORMAT_NAME, version=FORMAT_VERSION)
    members = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    members.update(data.arrays)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # np.savez would append ".npz" to a bare name; writing through a handle keeps ours
        tmp, handle = _create_temporary(path)
        with handle:
            np.savez(handle, **members)
            handle.flush()
            os.fsync(handle.fileno())
        _wait_at_save_gate()
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        remove_stale_temporaries(path)
    except OSError as exc:
        _discard(tmp)
        reason = exc.strerror or str(exc)
        raise CheckpointError(
            f"could not write checkpoint {path}: {reason}; the previous checkpoint (if any) is unchanged"
        ) from exc
    except BaseException:
        _discard(tmp)
        raise
    return path


def check_checkpoint_target(path: str | os.PathLike) -> None:
    """Refuse (CheckpointError, one line) to write a checkpoint where rnn-tui must not.

    rnn-tui writes only to a path that does not exist or holds an rnn-tui checkpoint (one that
    `read_meta` accepts). A regular file of any other kind (the corpus itself, say), a folder,
    a device, a named pipe, a socket, a symbolic link to any of those, a dangling symbolic link
    or a loop is refused with what it is and what to do. The CLI calls this before training so
    a bad --checkpoint fails at once; `save_checkpoint` calls it before every write.
    """
    path = Path(path)
    try:
        link = os.lstat(path)
    except OSError:
        return  # nothing there (or a folder above it is missing or closed: the write says so)
    try:
        info = os.stat(path)
    except OSError as exc:
        if stat.S_ISLNK(link.st_mode):
            raise CheckpointError(
                f"refusing to write checkpoint {path}: it {broken_link(path, exc)}; remove the "
                "link or choose another --checkpoint path"
            ) from None
        return
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(
            f"could not write checkpoint {path}: it is a folder; give a file path (--checkpoint) "
            "or another --run-dir; the previous checkpoint (if any) is unchanged"
        )
    via = _via_link(path, link)
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(
            f"refusing to write checkpoint {path}: it is {describe_file_type(info.st_mode)}{via}, "
            "not a checkpoint file; choose a new file name (--checkpoint) or another --run-dir"
        )
    try:
        read_meta(path, validate_counters=False)  # ours even if its counters were damaged
    except _NewerFormat:
        raise CheckpointError(
            f"refusing to overwrite {path}: it holds a checkpoint of a newer rnn-tui; upgrade "
            "rnn-tui, or choose a new file name (--checkpoint) or another --run-dir"
        ) from None
    except _Unreadable as exc:
        raise CheckpointError(
            f"could not write checkpoint {path}: the file there cannot be read to check that it "
            f"is a checkpoint ({exc.reason}); the previous checkpoint (if any) is unchanged"
        ) from None
    except CheckpointError:
        raise CheckpointError(
            f"refusing to overwrite {path}{via}: it is not an rnn-tui checkpoint, and rnn-tui "
            "replaces only its own; choose a new file name (--checkpoint) or another --run-dir"
        ) from None


def describe_file_type(mode: int) -> str:
    """What kind of file a stat mode is, for messages: 'a character device', 'a named pipe (FIFO)'."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def broken_link(path: Path, exc: OSError) -> str:
    """'is a symbolic link loop' or 'is a symbolic link to X, which does not exist'."""
    if exc.errno == errno.ELOOP:
        return "is a symbolic link loop"
    return f"is a symbolic link to {os.path.realpath(path)}, which does not exist"


def _via_link(path: Path, link: os.stat_result | None = None) -> str:
    """' (a symbolic link to /dev/zero)' when `path` is a link, for messages; else ''."""
    try:
        link = os.lstat(path) if link is None else link
    except OSError:
        return ""
    return f" (a symbolic link to {os.path.realpath(path)})" if stat.S_ISLNK(link.st_mode) else ""


def temporary_name(path: Path, attempt: int = 0) -> Path:
    """Where `save_checkpoint` writes before the rename: hidden, beside `path`, named by our pid.

    Later attempts (when the name is taken, e.g. by a leftover or a planted link) add a number.
    """
    suffix = f".{attempt}" if attempt else ""
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}.tmp")


def _create_temporary(path: Path) -> tuple[Path, Any]:
    """A new temporary file beside `path`, opened for writing: created now, never an existing
    file and never through a symbolic link (O_EXCL | O_NOFOLLOW); a taken name is left alone."""
    for attempt in range(TEMPORARY_ATTEMPTS):
        tmp = temporary_name(path, attempt)
        try:
            return tmp, open(tmp, "wb", opener=_exclusive_opener)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, f"every temporary name beside it is taken ({tmp.name} and others)")


def _exclusive_opener(name: str, flags: int) -> int:
    """os.open for `open(..., opener=)`: our flags, whatever the mode implied (no O_TRUNC)."""
    return os.open(name, TEMPORARY_FLAGS | getattr(os, "O_CLOEXEC", 0), 0o644)


def _nonblocking_opener(name: str, flags: int) -> int:
    """Open for reading without ever blocking (a named pipe with no writer would hang open())."""
    return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))


def _discard(tmp: Path | None) -> None:
    """Remove our own temporary file after a failed write (never anything else)."""
    if tmp is not None:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files of `path` left by processes that died mid-write (e.g. kill -9).

    A temporary file names its writer's pid; files of live processes (a concurrent save) are kept,
    and so is anything at such a name that is not a regular file of this user (a planted link).
    """
    path = Path(path)
    pattern = re.compile(r"\." + re.escape(path.name) + r"\.(\d+)(?:\.\d+)?\.tmp$")
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
            info = os.lstat(path.parent / name)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != _euid():
                continue
            os.unlink(path.parent / name)
        except OSError:
            continue
        removed.append(path.parent / name)
    return removed


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else 0


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


def _wait_at_save_gate() -> None:
    """The SAVE_GATE_ENV test hook: announce this writer, then wait for `go` (no-op unless set)."""
    folder = os.environ.get(SAVE_GATE_ENV)
    if not folder:
        return
    Path(folder, f"saving-{os.getpid()}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.01)


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


def read_meta(path: str | os.PathLike, *, validate_counters: bool = True) -> dict[str, Any]:
    """The metadata of a checkpoint, after checking it is a readable checkpoint of a known version
    whose counters some real run could have had (check_counters).

    `validate_counters=False` only asks whether the file is an rnn-tui checkpoint at all: that
    is what decides whether rnn-tui may replace it (its own file, even if damaged since).
    """
    path = Path(path)
    with _open_zip(path) as zf:
        return _read_meta(zf, path, validate_counters)


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
        file_size = _file_size(zf)
    except (OSError, AttributeError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
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


@contextlib.contextmanager
def _open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """The checkpoint as a zip archive, read from a regular file opened once (see _open_regular)."""
    handle = _open_regular(path)
    try:
        try:
            zf = zipfile.ZipFile(handle)
        except DAMAGED:  # includes OSError: a bogus directory offset makes seek fail
            raise _not_npz(path) from None
        with zf:
            yield zf
    finally:
        handle.close()


def _open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file of sane size; CheckpointError otherwise.

    A device (/dev/zero, /dev/urandom) would be read until memory runs out and a named pipe
    without a writer would block forever: neither is ever read. The type is checked on the
    opened file itself (fstat), so a file swapped for a pipe after the first look is caught too.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        if os.path.islink(path):
            raise CheckpointError(
                f"checkpoint {path} {broken_link(path, exc)}; check the path or fix the link"
            ) from None
        raise CheckpointError(
            f"checkpoint {path} does not exist; check the path (runs save under runs/<name>/)"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CheckpointError(
                f"checkpoint {path} is a symbolic link loop; check the path or fix the link"
            ) from None
        reason = exc.strerror or str(exc)
        raise _Unreadable(f"cannot read checkpoint {path}: {reason}", reason) from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{path} is a folder; pass a checkpoint file (.npz) inside it")
    via = _via_link(path)
    _check_regular(path, info, via)
    try:
        handle = open(path, "rb", opener=_nonblocking_opener)  # noqa: SIM115 (returned)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _Unreadable(f"cannot read checkpoint {path}: {reason}", reason) from None
    try:
        _check_regular(path, os.fstat(handle.fileno()), via)
    except BaseException:
        handle.close()
        raise
    return handle


def _check_regular(path: Path, info: os.stat_result, via: str = "") -> None:
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(
            f"checkpoint {path} is {describe_file_type(info.st_mode)}{via}, not a checkpoint "
            "file; pass a checkpoint file (.npz)"
        )
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise _corrupt(
            path,
            f"it is {info.st_size:,} bytes, more than the {MAX_CHECKPOINT_BYTES:,} bytes "
            "(32 GiB) a checkpoint may have",
        )


def _file_size(zf: zipfile.ZipFile) -> int:
    """Size of the file a zip archive was opened from."""
    return os.fstat(zf.fp.fileno()).st_size


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


def _read_meta(zf: zipfile.ZipFile, path: Path, validate_counters: bool = True) -> dict[str, Any]:
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
        raise _NewerFormat(
            f"checkpoint {path} was written by a newer rnn-tui (format {version}, this one reads up to "
            f"{FORMAT_VERSION}); upgrade rnn-tui (pip install -U rnn-tui) to use it"
        )
    if version < 1:
        raise _corrupt(path, f"format version {version} is unknown")
    # Every reader (resume, sample, rollback, the store's -step names) gets counters that some
    # real run could have had, or nothing at all.
    if validate_counters:
        check_counters(meta, path)
    return meta


def check_counters(meta: dict[str, Any], path: str | os.PathLike) -> None:
    """Refuse (CheckpointError) counters that no run can have: a step of -5 or 10**30, a float
    step, an epoch or a recorded change beyond the step, a negative or infinite elapsed time.
    Whatever a Trainer writes passes (tests/test_reliability_round2.py runs one).

    Only the counters present are checked (a missing one is the restore's "incomplete"): step,
    elapsed, the streams' offset, epoch and started flag, sample_requests, the steps of the
    hyperparameter changes and of the kept samples (within [0, step]), the curves' sizes,
    strides and accumulators, and the last window's character ids.
    """
    path = Path(path)
    step = _whole(path, meta, "step", 0, MAX_STEP)
    top = MAX_STEP if step is None else step
    if "elapsed" in meta:
        _amount(path, "elapsed", meta["elapsed"], MAX_ELAPSED_SECONDS)
    streams = meta.get("streams")
    if "streams" in meta:
        if not isinstance(streams, dict):
            raise _bad_counter(path, "streams", streams, "a mapping of offset, epoch and started")
        _whole(path, streams, "offset", 0, MAX_INDEX, "streams.offset")
        # at most one wrap per window read, and a step that failed (diverged) after reading its
        # window leaves one more read than steps
        _whole(path, streams, "epoch", 0, top + 1, "streams.epoch")
        started = streams.get("started", 0)
        if started not in (0, 1) or isinstance(started, float):
            raise _bad_counter(path, "streams.started", started, "0 or 1")
    _whole(path, meta, "sample_requests", 0, MAX_STEP)
    for i, value in enumerate(_items(path, meta, "hparam_change_steps")):
        _whole(path, {"s": value}, "s", 0, top, f"hparam_change_steps[{i}]")
    for i, sample in enumerate(_items(path, meta, "samples")):
        if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[1], str)):
            raise _bad_counter(path, f"samples[{i}]", sample, "a [step, text] pair")
        _whole(path, {"s": sample[0]}, "s", 0, top, f"samples[{i}] step")
    for key in ("train_curve", "val_curve"):
        if key not in meta:
            continue
        curve = meta[key]
        if not isinstance(curve, dict):
            raise _bad_counter(path, key, curve, "a mapping")
        _whole(path, curve, "size", 0, MAX_LIST_ITEMS, f"{key}.size")
        stride = _whole(path, curve, "stride", 1, 2**62, f"{key}.stride")
        # points are flushed as soon as `stride` have accumulated: fewer are ever pending
        _whole(path, curve, "acc_count", 0, (stride or 2**62) - 1, f"{key}.acc_count")
        if "acc_step" in curve:  # a sum of step numbers (the values are losses: not counters)
            _amount(path, f"{key}.acc_step", curve["acc_step"], float(top) * 2**62)
    _whole(path, meta, "last_target", 0, MAX_INDEX)
    for i, value in enumerate(_items(path, meta, "last_inputs")):
        _whole(path, {"x": value}, "x", 0, MAX_INDEX, f"last_inputs[{i}]")
    _items(path, meta, "recent_losses")


def _whole(
    path: Path, where: dict, key: str, low: int, high: int, label: str | None = None
) -> int | None:
    """where[key] if it is a whole number (not a bool, not 5.0) in [low, high]; None if absent."""
    if key not in where:
        return None
    value = where[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad_counter(path, label or key, value, f"a whole number from {low:,} to {high:,}")
    return value


def _amount(path: Path, label: str, value: Any, high: float, low: float = 0.0) -> None:
    """A finite number in [low, high] (ints are fine, bools and NaN are not)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    # ints are compared as they are: math.isfinite(10**400) would raise OverflowError
    if not ok or not ((isinstance(value, int) or math.isfinite(value)) and low <= value <= high):
        raise _bad_counter(path, label, value, f"a finite number from {low:g} to {high:g}")


def _items(path: Path, meta: dict, key: str) -> list:
    """meta[key] if it is a list of sane length ([] if absent)."""
    value = meta.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        raise _bad_counter(path, key, value, f"a list of at most {MAX_LIST_ITEMS:,} entries")
    return value


def _bad_counter(path: Path, label: str, value: Any, expected: str) -> CheckpointError:
    try:
        shown = repr(value)
    except ValueError:  # an integer too long to print
        shown = "a huge number"
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return _corrupt(path, f"its counters are invalid ({label} is {shown}; expected {expected})")
