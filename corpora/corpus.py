"""Corpus: the decoded text the engine trains on, with where it came from, its size,
its characters with counts and a stable hash."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Below this many characters a Counter is quicker than encoding to UTF-32 for NumPy.
_SMALL_TEXT = 1 << 16
# Characters per chunk when counting or hashing a large text: bounds the extra memory to
# a few tens of MB however large the text is.
_CHUNK_CHARS = 1 << 22
_NUM_CODE_POINTS = 0x110000


@dataclass(frozen=True)
class Corpus:
    """Decoded, newline-normalised text plus what a user and a checkpoint need to know about it."""

    text: str = field(repr=False)
    name: str
    source: str
    size_bytes: int
    # Computed from `text` when not given; excluded from eq/hash (they follow from `text`).
    char_counts: dict[str, int] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    sha256: str = field(default="", compare=False)
    # One line each for the user about what loading did to the text (e.g. the Project Gutenberg
    # licence it removed); the CLI prints them with the x-ray.
    notices: tuple[str, ...] = field(default=(), compare=False)
    # Characters of boilerplate removed before and after the text (0, 0: none, or it was kept).
    boilerplate: tuple[int, int] = field(default=(0, 0), compare=False)

    def __post_init__(self) -> None:
        if self.char_counts is None:
            object.__setattr__(self, "char_counts", count_chars(self.text))
        if not self.sha256:
            object.__setattr__(self, "sha256", text_sha256(self.text))

    @property
    def num_chars(self) -> int:
        """Number of characters (code points) in the text."""
        return len(self.text)

    @property
    def num_distinct(self) -> int:
        """Number of distinct characters, i.e. the vocabulary size."""
        return len(self.char_counts)


def text_sha256(text: str, on_chunk: Callable[[int], None] | None = None) -> str:
    """hashlib.sha256(text.encode("utf-8")).hexdigest(), computed in chunks to spare memory.

    `on_chunk`, if given, is called with the number of characters hashed after each chunk.
    """
    digest = hashlib.sha256()
    # Slicing a str at any index is safe: strictly decoded text holds no lone surrogates,
    # so the chunks' UTF-8 encodings concatenate to the encoding of the whole.
    for start in range(0, len(text), _CHUNK_CHARS):
        chunk = text[start : start + _CHUNK_CHARS]
        digest.update(chunk.encode("utf-8"))
        if on_chunk is not None:
            on_chunk(len(chunk))
    return digest.hexdigest()


def count_chars(text: str, on_chunk: Callable[[int], None] | None = None) -> dict[str, int]:
    """Distinct characters of `text` with their counts, sorted by character.

    `on_chunk`, if given, is called with the number of characters counted after each chunk.
    """
    if len(text) < _SMALL_TEXT:
        if on_chunk is not None:
            on_chunk(len(text))
        return dict(sorted(Counter(text).items()))
    ascii_only = text.isascii()
    # ASCII: a 128-bin histogram of one byte per character. Otherwise a histogram over all
    # code points (9 MB of int64) of UTF-32 code units: no sort, no per-character Python.
    totals = np.zeros(128 if ascii_only else _NUM_CODE_POINTS, dtype=np.int64)
    for start in range(0, len(text), _CHUNK_CHARS):
        piece = text[start : start + _CHUNK_CHARS]
        if ascii_only:
            codes = np.frombuffer(piece.encode("ascii"), dtype=np.uint8)
        else:
            codes = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
        counts = np.bincount(codes)
        totals[: len(counts)] += counts
        if on_chunk is not None:
            on_chunk(len(piece))
    present = np.flatnonzero(totals)
    return {chr(int(cp)): int(totals[cp]) for cp in present}
