"""load_corpus: what the user names (a file, a directory, a catalogue name, or nothing for the
built-in corpus) turned into a checked Corpus, or a one-line CorpusError saying what to do."""

from __future__ import annotations

import dataclasses
import difflib
import errno
import itertools
import os
from pathlib import Path

from .builtin import load_builtin
from .catalogue import (
    CorpusSpec,
    cache_file,
    catalogue_names,
    closest_names,
    download_url,
    find_spec,
    local_file,
)
from .corpus import Corpus, count_chars, text_sha256
from .decode import (
    binary_reason,
    check_encoding,
    decode_bytes,
    normalise_newlines,
    resolve_codec,
)
from .download import download, html_reason
from .errors import CorpusError
from .files import MAX_CORPUS_BYTES, human_bytes, list_directory, read_file
from .gutenberg import boilerplate_notice, split_gutenberg
from .progress import ProgressBar


def load_corpus(
    spec: str | os.PathLike[str] | None = None,
    *,
    encoding: str | None = None,
    keep_newlines: bool = False,
    corpus_dir: str | None = None,
    min_length: int = 2,
    progress: bool = False,
    keep_boilerplate: bool = False,
) -> Corpus:
    """The corpus named by `spec`: a file, a directory, a catalogue name, or None for python.

    `min_length` is the shortest acceptable text in characters (callers pass seq_length + 1);
    `corpus_dir` overrides RNN_TUI_CORPUS_DIR; `progress` allows rich progress bars on stderr.
    A Project Gutenberg licence header and footer are removed from any file (the corpus's
    `notices` say so) unless `keep_boilerplate`.
    """
    if encoding is not None:
        check_encoding(encoding)  # a typo in --encoding fails before any file is read
    if spec is None:
        return _long_enough(load_builtin(), "the built-in python corpus", min_length)
    given = os.fspath(spec)
    if not given.strip():
        raise CorpusError(
            "no corpus given (an empty name); pass a text file, a directory or a catalogue "
            f"name: {', '.join(catalogue_names())}"
        )
    path = Path(given).expanduser()
    options = {
        "encoding": encoding,
        "keep_newlines": keep_newlines,
        "progress": progress,
        "keep_boilerplate": keep_boilerplate,
    }
    if _exists(path, given):
        return _long_enough(_load_path(path, given, **options), repr(given), min_length)
    named = find_spec(given) if isinstance(spec, str) else None
    if named is None:
        raise _not_found(given, path)
    return _load_named(named, corpus_dir=corpus_dir, min_length=min_length, **options)


def _exists(path: Path, given: str) -> bool:
    try:
        path.stat()
    except PermissionError:
        raise CorpusError(
            f"cannot read {given!r}: permission denied on a folder in its path; check the "
            "folder permissions"
        ) from None
    except OSError as err:  # missing, or a symbolic link that leads nowhere
        _refuse_broken_link(path, given, err)
        return False
    except ValueError:  # e.g. a NUL in the name
        return False
    return True


def _refuse_broken_link(path: Path, given: str, err: OSError) -> None:
    """CorpusError if `path` is a symbolic link that dangles or loops (say so, not "not found")."""
    try:
        if not os.path.islink(path):
            return
    except (OSError, ValueError):
        return
    if err.errno == errno.ELOOP:
        what = "is a symbolic link loop"
    else:
        what = f"is a symbolic link to {os.path.realpath(path)!r}, which does not exist"
    raise CorpusError(
        f"{given!r} {what}; fix the link, or pass the file itself",
        reason=what.removeprefix("is "),
    )


def _load_path(
    path: Path,
    given: str,
    *,
    encoding: str | None,
    keep_newlines: bool,
    progress: bool,
    keep_boilerplate: bool,
) -> Corpus:
    if path.is_dir():
        return _load_directory(
            path,
            encoding=encoding,
            keep_newlines=keep_newlines,
            progress=progress,
            keep_boilerplate=keep_boilerplate,
        )
    return _load_file(
        path,
        repr(given),
        name=path.name,
        encoding=encoding,
        keep_newlines=keep_newlines,
        progress=progress,
        strip_boilerplate=not keep_boilerplate,
    )


def _load_file(
    path: Path,
    label: str,
    *,
    name: str,
    encoding: str | None,
    keep_newlines: bool,
    progress: bool,
    strip_boilerplate: bool = False,
) -> Corpus:
    """One file read, decoded and checked (all but the length check)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_file reports the problem
    with _load_bar(name, size, progress) as bar:
        data = read_file(path, label, bar)
        size_bytes = len(data)
        if not size_bytes:
            raise CorpusError(
                f"{label} is empty (0 bytes); pass a text file with something in it",
                reason="empty file",
            )
        text = decode_bytes(data, label, encoding)
        del data  # at most two copies of a large text are alive at any time
        bar.advance(size_bytes // 2)
        notices: tuple[str, ...] = ()
        removed = (0, 0)
        if strip_boilerplate:
            stripped = split_gutenberg(text)
            if stripped.changed:
                text, removed = stripped.text, (stripped.removed_start, stripped.removed_end)
                notices = (boilerplate_notice(stripped.header, stripped.footer, *removed),)
        if not keep_newlines:
            text = normalise_newlines(text)
        bar.advance(size_bytes - size_bytes // 2)
        source = str(path.resolve())
        return _checked(
            text,
            label,
            name=name,
            source=source,
            size_bytes=size_bytes,
            bar=bar,
            notices=notices,
            boilerplate=removed,
        )


def _load_bar(name: str, size: int, enabled: bool) -> ProgressBar:
    """A bar over the four passes of loading: read, decode, count characters, hash.

    Each pass is worth the file size in units, so the bar moves evenly.
    """
    return ProgressBar(f"loading {name}", 4 * size or None, enabled=enabled)


def _load_directory(
    root: Path, *, encoding: str | None, keep_newlines: bool, progress: bool, keep_boilerplate: bool
) -> Corpus:
    """Every text file below `root`, sorted by relative path, joined by newlines."""
    root = root.resolve()
    label = repr(f"{root}/")
    listing = list_directory(root)
    texts: list[str] = []
    size_bytes = 0
    binary = empty = 0
    total = sum(file.size for file in listing.files)
    if total > MAX_CORPUS_BYTES:
        raise CorpusError(
            f"directory {label} holds {total:,} bytes of files, more than rnn-tui reads "
            f"({human_bytes(MAX_CORPUS_BYTES)}); pass a smaller directory or a single file",
            reason=f"more than {human_bytes(MAX_CORPUS_BYTES)} of files",
        )
    stripped_files, removed_start, removed_end = 0, 0, 0
    header = footer = False
    read = 0
    with _load_bar(f"{root.name}/", total, progress) as bar:
        for file in listing.files:
            file_label = repr(f"{root.name}/{file.relpath}")
            data = read_file(file.path, file_label, bar, limit=MAX_CORPUS_BYTES - read)
            read += len(data)
            if not data:
                empty += 1
                continue
            codec, _ = resolve_codec(data, encoding)
            if binary_reason(data, codec):
                binary += 1
                bar.advance(3 * len(data))  # never decoded, counted or hashed
                continue
            text = decode_bytes(data, file_label, encoding)
            if not keep_boilerplate:
                stripped = split_gutenberg(text)
                if stripped.changed:
                    text = stripped.text
                    stripped_files += 1
                    removed_start += stripped.removed_start
                    removed_end += stripped.removed_end
                    header, footer = header or stripped.header, footer or stripped.footer
            texts.append(text if keep_newlines else normalise_newlines(text))
            size_bytes += len(data)
            bar.advance(len(data))
        if not texts:
            skipped = [
                f"{n} {what}"
                for n, what in ((binary, "binary"), (listing.hidden, "hidden"), (empty, "empty"))
                if n
            ]
            found = f"skipped: {', '.join(skipped)}" if skipped else "it holds no files"
            raise CorpusError(
                f"directory {label} has no text files ({found}); pass a directory that holds "
                "text files, or a single file",
                reason="no text files",
            )
        text = "\n".join(texts)
        del texts
        notices = ()
        if stripped_files:
            notices = (
                boilerplate_notice(header, footer, removed_start, removed_end, stripped_files),
            )
        return _checked(
            text,
            label,
            name=f"{root.name}/",
            source=str(root),
            size_bytes=size_bytes,
            bar=bar,
            notices=notices,
            boilerplate=(removed_start, removed_end),
        )


def _load_named(
    spec: CorpusSpec,
    *,
    corpus_dir: str | None,
    min_length: int,
    encoding: str | None,
    keep_newlines: bool,
    progress: bool,
    keep_boilerplate: bool,
) -> Corpus:
    """A catalogue corpus: built in, or from the local folder, the cache, or a download."""
    url, cached = download_url(spec), cache_file(spec)
    if url is None or cached is None:
        return _long_enough(load_builtin(), "the built-in python corpus", min_length)
    local = local_file(spec, corpus_dir)
    if local is not None:
        corpus = _load_file(
            local,
            repr(str(local)),
            name=spec.name,
            encoding=encoding,
            keep_newlines=keep_newlines,
            progress=progress,
            strip_boilerplate=spec.gutenberg and not keep_boilerplate,
        )
        return _long_enough(corpus, repr(str(local)), min_length)
    notice = None
    if not cached.is_file():
        if os.path.lexists(cached):
            raise CorpusError(
                f"the cache entry {cached} for {spec.name!r} is not a regular file; remove it "
                "and run again to download a fresh copy"
            )
        notice = download(
            url,
            cached,
            name=spec.name,
            progress=progress,
            gutenberg=spec.gutenberg,
            expected=spec.expected,
        ).notice
    try:
        # The cache holds what download() wrote: UTF-8, licence already stripped.
        corpus = _load_file(
            cached,
            repr(str(cached)),
            name=spec.name,
            encoding=None,
            keep_newlines=keep_newlines,
            progress=progress,
        )
    except CorpusError as err:
        raise CorpusError(
            f"the cached copy of {spec.name!r} is corrupt ({err.reason}); delete {cached} "
            f"and run again to download a fresh copy"
        ) from None
    problem = _not_the_text(corpus.text, spec)
    if problem:
        # e.g. a captive portal's page that an older rnn-tui cached without checking
        raise CorpusError(
            f"the cached copy of {spec.name!r} is not {spec.name!r} ({problem}); delete "
            f"{cached} and run again to download a fresh copy"
        )
    if notice:
        corpus = dataclasses.replace(corpus, notices=(*corpus.notices, notice))
    return _long_enough(corpus, f"{spec.name!r}", min_length)


def _not_the_text(text: str, spec: CorpusSpec) -> str | None:
    """Why a cached text is not the catalogue's (the cache holds it stripped, so no sha256)."""
    if spec.expected is None:
        return None
    page = html_reason(text[:4096].encode("utf-8", "replace"))
    if page:
        return f"it is {page}"
    missing = [phrase for phrase in spec.expected.phrases if phrase not in text]
    return f"it does not contain {missing[0]!r}" if missing else None


def _checked(
    text: str,
    label: str,
    *,
    name: str,
    source: str,
    size_bytes: int,
    bar: ProgressBar | None = None,
    notices: tuple[str, ...] = (),
    boilerplate: tuple[int, int] = (0, 0),
) -> Corpus:
    """A Corpus for `text`, or CorpusError if there is nothing in it to learn from."""
    if not text:
        raise CorpusError(
            f"{label} is empty (no characters after decoding); pass a text file with something "
            "in it",
            reason="no characters",
        )
    if text.isspace():
        raise CorpusError(
            f"{label} contains only whitespace ({len(text):,} characters); pass a file with "
            "some text in it",
            reason="only whitespace",
        )
    # Counting and hashing each move the bar by `size_bytes` units over the whole text.
    on_chunk = None
    if bar is not None:
        units_per_char = size_bytes / len(text)

        def on_chunk(chars: int) -> None:
            bar.advance(round(chars * units_per_char))

    counts = count_chars(text, on_chunk)
    if len(counts) < 2:
        (only,) = counts
        raise CorpusError(
            f"{label} has only one distinct character ({only!r}); a model needs at least two "
            "distinct characters to learn anything",
            reason="only one distinct character",
        )
    return Corpus(
        text=text,
        name=name,
        source=source,
        size_bytes=size_bytes,
        char_counts=counts,
        sha256=text_sha256(text, on_chunk),
        notices=notices,
        boilerplate=boilerplate,
    )


def _long_enough(corpus: Corpus, label: str, min_length: int) -> Corpus:
    """`corpus` back, or CorpusError if it is shorter than one training window."""
    if corpus.num_chars < min_length:
        raise CorpusError(
            f"{label} has {corpus.num_chars:,} characters, fewer than one training window "
            f"({min_length:,} characters); use a longer text or a smaller --seq-length"
        )
    return corpus


def _not_found(given: str, path: Path) -> CorpusError:
    """The error for a name that is neither an existing path nor a catalogue name."""
    names = ", ".join(catalogue_names())
    looks_like_path = "/" in given or os.sep in given or bool(path.suffix)
    suggestions = [repr(name) for name in closest_names(given)] if not looks_like_path else []
    suggestions += [repr(str(found)) for found in _similar_files(path)]
    did_you_mean = f"did you mean {' or '.join(suggestions)}? " if suggestions else ""
    if looks_like_path:
        folder = path.parent
        where = "" if folder.is_dir() else f" (there is no folder {str(folder)!r})"
        return CorpusError(
            f"no such file or directory: {given!r}{where}; {did_you_mean}check the path, or "
            f"name a corpus from the catalogue: {names}"
        )
    if did_you_mean:
        return CorpusError(f"no file or corpus named {given!r}; {did_you_mean}Catalogue: {names}")
    return CorpusError(
        f"no file or corpus named {given!r}; pass a text file or a directory, or name a corpus "
        f"from the catalogue: {names}"
    )


def _similar_files(path: Path, limit: int = 2000) -> list[Path]:
    """Files beside `path` whose names look like a misspelling of it (at most one)."""
    folder = path.parent
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in itertools.islice(entries, limit) if e.name[:1] != "."]
        names = [name for name in names if name != path.name]  # never "did you mean itself?"
    except OSError:
        return []
    found = difflib.get_close_matches(path.name, names, n=1, cutoff=0.75)
    return [folder / name if str(folder) != "." else Path(name) for name in found]
