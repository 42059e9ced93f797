"""Reading the user's files: one file into a single buffer (in chunks, so a progress bar can
follow), and the sorted list of files below a directory, hidden ones left out.

Only regular files are read, and never more than MAX_CORPUS_BYTES of them: a device such as
/dev/zero or /dev/urandom would be read until memory runs out and a named pipe with no writer
would block forever, so each is refused by what it is, before a byte is read.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import CorpusError
from .progress import ProgressBar

# Bytes per read: large enough to be fast, small enough for the progress bar to move.
CHUNK_BYTES = 1 << 22
# The most text rnn-tui reads. Loading holds the bytes and the decoded text at once (2-3 times
# the size), and training adds the encoded ids and the model: a 2 GiB text already needs about
# 8 GiB to train on, more than most machines that would run a NumPy RNN have to spare.
MAX_CORPUS_BYTES = 2 * 1024**3


class ListedFile(NamedTuple):
    """A regular file found below a directory."""

    relpath: str  # relative to the directory, with forward slashes
    path: Path
    size: int  # bytes, when listed


@dataclass(frozen=True)
class DirectoryListing:
    """Regular files below a directory, sorted by relative path, and what was left out."""

    files: list[ListedFile]
    hidden: int  # hidden files and directories skipped


def read_file(
    path: Path,
    label: str,
    progress: ProgressBar | None = None,
    limit: int | None = None,
) -> bytearray:
    """All bytes of the regular file at `path`, read once into one buffer; CorpusError if it is
    not a regular file, is unreadable, or holds more than `limit` bytes (MAX_CORPUS_BYTES)."""
    limit = MAX_CORPUS_BYTES if limit is None else limit
    check_regular_file(path, label)
    try:
        # O_NONBLOCK: if the file was swapped for a named pipe since the check, opening it
        # must not wait for a writer; the fstat below then refuses it.
        with open(path, "rb", opener=_nonblocking) as handle:
            info = os.fstat(handle.fileno())
            _refuse_special(info.st_mode, label, path)
            size = info.st_size
            if size > limit:
                raise _too_large(label, f"{size:,} bytes", limit)
            buffer = bytearray(size)
            done = 0
            with memoryview(buffer) as view:
                while done < size:
                    got = handle.readinto(view[done : done + CHUNK_BYTES])
                    if not got:
                        break
                    done += got
                    if progress is not None:
                        progress.advance(got)
            if done < size:  # the file shrank while we read it
                del buffer[done:]
            rest = handle.read(limit - len(buffer) + 1)  # or grew (at most past the limit)
            if rest:
                buffer += rest
            if len(buffer) > limit:
                raise _too_large(label, "it kept growing while it was read", limit)
    except PermissionError:
        raise CorpusError(
            f"cannot read {label}: permission denied; check its permissions "
            "(e.g. chmod u+r) or copy it somewhere readable",
            reason="permission denied",
        ) from None
    except IsADirectoryError:
        raise CorpusError(f"{label} is a directory, not a file", reason="a directory") from None
    except OSError as err:
        why = err.strerror or errno.errorcode.get(err.errno or 0, type(err).__name__)
        raise CorpusError(
            f"cannot read {label}: {why}; check that the file is readable",
            reason=f"cannot read: {why}",
        ) from None
    return buffer


def check_regular_file(path: Path, label: str) -> None:
    """CorpusError (one line saying what it is) unless `path` is, after following symbolic links,
    a regular file or a folder: devices, named pipes and sockets are never opened."""
    try:
        info = os.stat(path)
    except OSError:
        return  # missing or unreadable: opening it reports that
    if not stat.S_ISDIR(info.st_mode):
        _refuse_special(info.st_mode, label, path)


def describe_file_type(mode: int) -> str:
    """What kind of file a stat mode is: 'a character device', 'a named pipe (FIFO)', ..."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _refuse_special(mode: int, label: str, path: Path) -> None:
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    what = describe_file_type(mode)
    via = f" (a symbolic link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    if stat.S_ISFIFO(mode):
        advice = "save what it carries to a file first (e.g. command > corpus.txt) and pass that"
    else:
        advice = "pass a regular text file"
    raise CorpusError(
        f"{label} is {what}{via}, not a text file; {advice}", reason=f"{what}, not a file"
    )


def _too_large(label: str, size: str, limit: int) -> CorpusError:
    return CorpusError(
        f"{label} is too large ({size}; rnn-tui reads at most {human_bytes(limit)}); "
        "pass a smaller text, e.g. a part of this one",
        reason=f"larger than {human_bytes(limit)}",
    )


def human_bytes(count: int) -> str:
    """'2 GiB' for whole GiB, else '1,234 bytes'."""
    if count >= 1024**3 and count % 1024**3 == 0:
        return f"{count // 1024**3} GiB"
    return f"{count:,} bytes"


def _nonblocking(name: str, flags: int) -> int:
    return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))


def list_directory(root: Path) -> DirectoryListing:
    """Regular files below `root` (recursively), hidden ones and symlinked dirs left out."""
    found: list[ListedFile] = []
    hidden = 0

    def on_error(err: OSError) -> None:
        raise CorpusError(
            f"cannot list directory {str(err.filename)!r}: {err.strerror}; check its permissions",
            reason=f"cannot list directory: {err.strerror}",
        )

    for folder, dirs, names in os.walk(root, onerror=on_error):
        kept = [d for d in dirs if not d.startswith(".")]
        hidden += len(dirs) - len(kept)
        dirs[:] = kept
        for name in names:
            if name.startswith("."):
                hidden += 1
                continue
            path = Path(folder, name)
            try:
                info = path.stat()
            except OSError:
                continue  # a dangling symlink: nothing to read
            if stat.S_ISREG(info.st_mode):
                found.append(ListedFile(path.relative_to(root).as_posix(), path, info.st_size))
    # Sort on the whole relative path, not directory by directory as os.walk yields them.
    found.sort(key=lambda item: item.relpath)
    return DirectoryListing(found, hidden)
