"""The catalogue of named corpora (python, kafka, shakespeare): where each downloads from, and
where a copy is looked for first: the local corpus folder, then the user cache."""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import platformdirs

from .errors import CorpusError

CORPUS_DIR_ENV = "RNN_TUI_CORPUS_DIR"
CACHE_DIR_ENV = "RNN_TUI_CACHE_DIR"
URL_ENV_PREFIX = "RNN_TUI_CATALOGUE_URL_"  # + NAME in capitals, e.g. RNN_TUI_CATALOGUE_URL_KAFKA
BUILTIN_NAME = "python"


class Expected(NamedTuple):
    """What a download must be before it is cached: the exact file rnn-tui knows (by size and
    sha256), or, since Project Gutenberg re-issues its files with new headers, at least a text
    of about that size holding phrases every edition of the book has."""

    sha256: str  # of the file as downloaded (before any stripping)
    size: int  # its size in bytes
    phrases: tuple[str, ...]  # in the text itself, so they survive stripping and re-issues


class CorpusSpec(NamedTuple):
    """What the catalogue knows of a named corpus before looking at the disk."""

    name: str
    description: str
    url: str | None  # None: built in, never downloaded
    filename: str | None  # file name in the local corpus folder and in the cache
    gutenberg: bool  # strip the Project Gutenberg header and footer
    expected: Expected | None = None  # how a download (and the cached copy) is verified


SPECS: tuple[CorpusSpec, ...] = (
    CorpusSpec(
        "kafka",
        "Franz Kafka, Metamorphosis (Project Gutenberg ebook 5200), about 120 KB",
        "https://www.gutenberg.org/cache/epub/5200/pg5200.txt",
        "kafka.txt",
        True,
        # the edition in ../shared/corpora that rnn-tui is tested with; gutenberg.org re-issues
        # pg5200.txt from time to time, and a re-issue passes on its size and phrases
        Expected(
            sha256="fa1975513651e41959326c86db8aa57c39a46dc16e370813da768906d053a632",
            size=137_626,
            phrases=("Gregor Samsa", "Grete", "chief clerk"),
        ),
    ),
    CorpusSpec(
        BUILTIN_NAME,
        "this Python's standard-library source, built in, no download, about 3 MB",
        None,
        None,
        False,
    ),
    CorpusSpec(
        "shakespeare",
        "tiny-shakespeare, the data set of char-rnn, about 1.1 MB",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "tinyshakespeare.txt",
        False,
        Expected(
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            size=1_115_394,
            phrases=("First Citizen:", "ROMEO:", "KING RICHARD"),
        ),
    ),
)


@dataclass(frozen=True)
class CatalogueEntry:
    """A named corpus and where copies of it are: the local folder, the cache, or nowhere yet."""

    name: str
    description: str
    url: str | None  # download URL (after any environment override); None when built in
    filename: str | None  # None when built in
    cached_path: Path | None  # the cached copy, if one exists
    local_path: Path | None  # the file in the local corpus folder, if one exists

    @property
    def builtin(self) -> bool:
        """Whether the corpus ships with rnn-tui (no file, no download)."""
        return self.url is None


def catalogue_names() -> list[str]:
    """Names of the catalogue, sorted."""
    return sorted(spec.name for spec in SPECS)


def find_spec(name: str) -> CorpusSpec | None:
    """The catalogue's spec for `name` (case-insensitive), or None."""
    wanted = name.strip().lower()
    return next((spec for spec in SPECS if spec.name == wanted), None)


def closest_names(name: str) -> list[str]:
    """Catalogue names that look like a misspelling of `name`, best first."""
    return difflib.get_close_matches(name.strip().lower(), catalogue_names(), n=3, cutoff=0.6)


def download_url(spec: CorpusSpec) -> str | None:
    """Where `spec` downloads from: RNN_TUI_CATALOGUE_URL_<NAME> if set, else the catalogue URL."""
    if spec.url is None:
        return None
    return os.environ.get(URL_ENV_PREFIX + spec.name.upper()) or spec.url


def cache_dir() -> Path:
    """Folder for downloaded corpora: $RNN_TUI_CACHE_DIR/corpora or the user cache dir's."""
    root = os.environ.get(CACHE_DIR_ENV) or platformdirs.user_cache_dir("rnn-tui")
    return Path(root).expanduser() / "corpora"


def corpus_folder(corpus_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local corpus folder: `corpus_dir` if given, else $RNN_TUI_CORPUS_DIR, else None."""
    folder = corpus_dir if corpus_dir is not None else os.environ.get(CORPUS_DIR_ENV)
    if folder is None or str(folder) == "":
        return None
    return Path(folder).expanduser()


def local_file(spec: CorpusSpec, corpus_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The file for `spec` in the local corpus folder, or None; CorpusError if no such folder."""
    folder = corpus_folder(corpus_dir)
    if folder is None or spec.filename is None:
        return None
    if not folder.is_dir():
        via = "--corpus-dir" if corpus_dir is not None else CORPUS_DIR_ENV
        raise CorpusError(
            f"the corpus folder {str(folder)!r} ({via}) is not a directory; create it and put "
            f"{spec.filename} in it, or unset {via} to download {spec.name!r} instead"
        )
    path = folder / spec.filename
    try:
        return path if path.is_file() else None
    except PermissionError:
        via = "--corpus-dir" if corpus_dir is not None else CORPUS_DIR_ENV
        raise CorpusError(
            f"cannot look in the corpus folder {str(folder)!r} ({via}): permission denied; "
            "check its permissions, or choose another folder"
        ) from None


def cache_file(spec: CorpusSpec) -> Path | None:
    """Where the cached copy of `spec` lives (whether or not it exists yet)."""
    return cache_dir() / spec.filename if spec.filename else None


def catalogue_entries(corpus_dir: str | None = None) -> list[CatalogueEntry]:
    """Every catalogue entry with its local and cached copies (None where there is none)."""
    entries = []
    for spec in sorted(SPECS, key=lambda s: s.name):
        try:
            local = local_file(spec, corpus_dir)
        except CorpusError:
            local = None  # listing must not fail on a bad folder; loading reports it
        cached = cache_file(spec)
        entries.append(
            CatalogueEntry(
                name=spec.name,
                description=spec.description,
                url=download_url(spec),
                filename=spec.filename,
                cached_path=cached if cached is not None and cached.is_file() else None,
                local_path=local,
            )
        )
    return entries


def format_catalogue(corpus_dir: str | None = None) -> str:
    """The catalogue as `rnn-tui corpora` prints it: names, descriptions and what is on disk."""
    entries = catalogue_entries(corpus_dir)
    width = max(len(entry.name) for entry in entries)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    lines = ["Corpora by name (rnn-tui NAME):", ""]
    for entry in entries:
        default = " (the default)" if entry.name == BUILTIN_NAME else ""
        lines.append(f"  {entry.name:<{width}}  {entry.description}{default}")
        pad = " " * (width + 4)
        if entry.builtin:
            lines.append(f"{pad}available: built in (Python {version})")
        elif entry.local_path is not None:
            lines.append(f"{pad}available: local file {entry.local_path}")
        elif entry.cached_path is not None:
            lines.append(f"{pad}available: cached at {entry.cached_path}")
        else:
            lines.append(f"{pad}not downloaded yet; first use downloads {entry.url}")
    folder = corpus_folder(corpus_dir)
    if folder is None:
        files = " or ".join(spec.filename for spec in SPECS if spec.filename)
        where = f"not set (set {CORPUS_DIR_ENV} or pass --corpus-dir: a folder holding {files})"
    elif folder.is_dir():
        where = str(folder)
    else:
        where = f"{folder} (missing: not a directory)"
    lines += [
        "",
        f"Local folder: {where}",
        f"Cache:        {cache_dir()}",
        "Any text file or directory works too: rnn-tui path/to/file.txt",
    ]
    return "\n".join(lines)
