"""Vocab: the sorted set of characters of a text, and the char <-> id mapping."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class VocabError(ValueError):
    """A character is not in the vocabulary; the message lists what is."""


class Vocab:
    """Sorted distinct characters; sorted so ids are the same on every run (unlike list(set(text)))."""

    def __init__(self, chars: Iterable[str]):
        self.chars: tuple[str, ...] = tuple(sorted(set(chars)))
        if any(len(c) != 1 for c in self.chars):
            raise VocabError("a vocabulary holds single characters only")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """The vocabulary of a text."""
        return cls(set(text))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned integer type that holds every id."""
        return np.dtype(
            np.uint8 if len(self) <= 256 else np.uint16 if len(self) <= 65536 else np.uint32
        )

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of `text` (VocabError on an unknown character)."""
        missing = sorted(set(text) - set(self.index))
        if missing:
            raise VocabError(
                f"{self.describe_missing(missing)}; the vocabulary is: {self.printable()}"
            )
        if len(self) <= 256 and all(ord(c) < 256 for c in self.chars):
            # Fast path: a 256-entry lookup table over latin-1 bytes.
            table = np.zeros(256, dtype=np.uint8)
            for c, i in self.index.items():
                table[ord(c)] = i
            return table[np.frombuffer(text.encode("latin-1"), dtype=np.uint8)]
        return np.fromiter((self.index[c] for c in text), dtype=self.dtype, count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids."""
        return "".join(self.chars[int(i)] for i in ids)

    def printable(self, limit: int = 120) -> str:
        """The characters, escaped so whitespace and control characters are visible."""
        shown = "".join(_visible(c) for c in self.chars)
        return shown if len(shown) <= limit else shown[:limit] + "…"

    @staticmethod
    def describe_missing(missing: list[str]) -> str:
        """'character 'Z' is not in the vocabulary' (plural-aware)."""
        names = ", ".join(repr(c) for c in missing[:10])
        noun = "character" if len(missing) == 1 else "characters"
        verb = "is" if len(missing) == 1 else "are"
        return f"{noun} {names} {verb} not in the vocabulary"


def _visible(c: str) -> str:
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    if c == " ":
        return "␠"
    if not c.isprintable():
        return repr(c)[1:-1]
    return c
