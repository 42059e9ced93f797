"""The built-in `python` corpus: a deterministic selection of the running interpreter's own
standard-library source, so there is always something to train on without a download."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from .corpus import Corpus
from .decode import normalise_newlines

CAP_BYTES = 3_000_000
# Directories left out: installed packages, test suites (large and full of odd data),
# IDLE, lib2to3 (test data with deliberately broken files), codec tables, caches.
EXCLUDED_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "lib2to3",
        "encodings",
        "__pycache__",
        "__phello__",
    }
)
# Generated per build (compiler flags and install paths), not Python anyone wrote.
EXCLUDED_FILE_PREFIXES = ("_sysconfigdata",)


def stdlib_dir() -> Path:
    """The running interpreter's standard-library directory."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_sources(root: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of the *.py files below `root`, sorted by relative path."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith(".")]
        for name in names:
            if name.endswith(".py") and not name.startswith(EXCLUDED_FILE_PREFIXES):
                path = Path(folder, name)
                found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return found


def load_builtin(cap_bytes: int = CAP_BYTES, root: Path | None = None) -> Corpus:
    """The `python` corpus: stdlib *.py files in path order, joined by newlines, up to the cap.

    Files are added whole until the next one would pass `cap_bytes` (at least one is always
    taken); files that are not UTF-8 or hold NUL bytes are skipped.
    """
    root = stdlib_dir() if root is None else root
    texts: list[str] = []
    size = 0
    for _, path in stdlib_sources(root):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if texts and size + len(data) > cap_bytes:
            break
        if b"\x00" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        texts.append(normalise_newlines(text.removeprefix("\ufeff")))
        size += len(data)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Corpus(
        text="\n".join(texts),
        name=f"python (stdlib {version})",
        source=str(root),
        size_bytes=size,
    )
