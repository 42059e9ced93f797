"""Reading the user's files: one file into a single buffer (in chunks, so a progress bar can
follow), and the sorted list of files below a directory, hidden ones left out."""

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


def read_file(path: Path, label: str, progress: ProgressBar | None = None) -> bytearray:
    """All bytes of the file at `path`, read once into one buffer; CorpusError if unreadable."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
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
            rest = handle.read()  # or grew
            if rest:
                buffer += rest
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
