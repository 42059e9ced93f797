"""Text features for the cell finder: a registry of small named functions text -> (N,) floats.

Adding a feature is one decorated function; its name is the key, its label is what a table
shows, its docstring's first line says what it measures.

Every feature is aligned with a `Trace`: value t describes the text as read up to and including
the character at t (the model reads text[t] at step t, and position t of a trace is the state
after that step). So a closing quote is already outside the quotes, a closing bracket already
one level shallower, and a newline already belongs to the next line: it is that line's position
0, with nothing of the line read yet. One feature looks ahead, as a model must when it plans
a line break: `line_remaining`, the characters still to come before the next newline.

Character classes are per character: word characters are letters, digits and '_'
(str.isalnum or '_'); punctuation is Unicode category P* (so '_' counts, '$' and '+' do not);
brackets are ( [ { and ) ] }, their kinds not matched against each other.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

OPENERS, CLOSERS = "([{", ")]}"
DIGITS = "0123456789"
VOWELS = "aeiouAEIOU"


@dataclass(frozen=True)
class Feature:
    """One registered feature: its key, a short label for tables, and the function."""

    name: str
    label: str
    compute: Callable[[str], np.ndarray]

    @property
    def description(self) -> str:
        """The first line of the function's docstring."""
        return (self.compute.__doc__ or "").strip().splitlines()[0]


FEATURES: dict[str, Feature] = {}


def feature(label: str) -> Callable[[Callable[[str], np.ndarray]], Callable[[str], np.ndarray]]:
    """Register `fn(text) -> (N,) array` under its own name, shown in tables as `label`."""

    def register(fn: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
        if fn.__name__ in FEATURES:
            raise ValueError(f"a feature named {fn.__name__!r} is already registered")
        if not (fn.__doc__ or "").strip():
            raise ValueError(f"feature {fn.__name__!r} needs a docstring saying what it measures")
        FEATURES[fn.__name__] = Feature(fn.__name__, label, fn)
        return fn

    return register


def resolve(features: Mapping[str, Feature] | Iterable[str] = FEATURES) -> list[Feature]:
    """Features from a registry-like mapping or an iterable of registered names."""
    if isinstance(features, Mapping):
        return list(features.values())
    chosen = []
    for name in features:
        if name not in FEATURES:
            raise KeyError(f"unknown feature {name!r}; choose from {', '.join(FEATURES)}")
        chosen.append(FEATURES[name])
    return chosen


def feature_matrix(
    text: str, features: Mapping[str, Feature] | Iterable[str] = FEATURES
) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, (N, M) float64): every chosen feature of `text` as one column."""
    chosen = resolve(features)
    columns = np.empty((len(text), len(chosen)))
    for j, f in enumerate(chosen):
        values = np.asarray(f.compute(text), dtype=np.float64)
        if values.shape != (len(text),):
            raise ValueError(f"feature {f.name!r} gave shape {values.shape}, not ({len(text)},)")
        columns[:, j] = values
    return tuple(f.name for f in chosen), columns


# -- helpers: per-character tests and nearest-occurrence indices, all vectorised ----------------


def _codes(text: str) -> np.ndarray:
    """(N,) Unicode code points."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def char_test(text: str, predicate: Callable[[str], bool]) -> np.ndarray:
    """(N,) bool: predicate(text[t]), evaluated once per distinct character."""
    distinct, inverse = np.unique(_codes(text), return_inverse=True)
    table = np.fromiter((predicate(chr(c)) for c in distinct), dtype=bool, count=distinct.size)
    return table[inverse.reshape(-1)]


def _is_char(text: str, chars: str) -> np.ndarray:
    """(N,) bool: text[t] is one of `chars`."""
    return np.isin(_codes(text), _codes(chars))


def _last_at_or_before(mask: np.ndarray) -> np.ndarray:
    """(N,) index of the last True at or before t (-1 if none)."""
    return np.maximum.accumulate(np.where(mask, np.arange(mask.size), -1))


def _first_after(mask: np.ndarray) -> np.ndarray:
    """(N,) index of the first True strictly after t (N if none)."""
    N = mask.size
    at = np.where(mask, np.arange(N), N)
    # first True at or after t, then shifted so t itself does not count
    at_or_after = np.minimum.accumulate(at[::-1])[::-1]
    return np.append(at_or_after[1:], N)


def _is_word_char(text: str) -> np.ndarray:
    return char_test(text, lambda c: c.isalnum() or c == "_")


# -- the features ---------------------------------------------------------------------------


@feature("inside quotes")
def in_quotes(text: str) -> np.ndarray:
    """1 inside double quotes: an odd number of '"' in text[0..t] (opening quote 1, closing 0)."""
    return (np.cumsum(_is_char(text, '"')) % 2).astype(np.float64)


@feature("bracket depth")
def bracket_depth(text: str) -> np.ndarray:
    """Open ( [ { minus closed ) ] } in text[0..t], never below 0 (a stray closer is ignored)."""
    steps = _is_char(text, OPENERS).astype(np.int64) - _is_char(text, CLOSERS)
    walk = np.cumsum(steps)
    # the walk reflected at 0: subtracting the lowest point reached so far undoes every step
    # that would have gone below zero (d_t = max(0, d_{t-1} + step_t) for steps of +-1 and 0)
    return (walk - np.minimum(0, np.minimum.accumulate(walk))).astype(np.float64)


@feature("inside brackets")
def in_brackets(text: str) -> np.ndarray:
    """1 when bracket_depth > 0: inside parentheses, brackets or braces of any kind."""
    return (bracket_depth(text) > 0).astype(np.float64)


@feature("line position")
def line_position(text: str) -> np.ndarray:
    """Characters since the last newline: t minus the index of the last '\\n' at or before t
    (-1 if none), so 0 on a newline and 1 on the first character of a line."""
    return (np.arange(len(text)) - _last_at_or_before(_is_char(text, "\n"))).astype(np.float64)


@feature("line remaining")
def line_remaining(text: str) -> np.ndarray:
    """Characters strictly between t and the next newline (the end of the text if none): 0 just
    before a newline; on a newline, the length of the line it starts."""
    return (_first_after(_is_char(text, "\n")) - np.arange(len(text)) - 1).astype(np.float64)


@feature("word position")
def word_position(text: str) -> np.ndarray:
    """1-based position of text[t] in its run of word characters (letters, digits, '_'); 0 on
    any other character."""
    word = _is_word_char(text)
    position = np.arange(len(text)) - _last_at_or_before(~word)
    return np.where(word, position, 0).astype(np.float64)


@feature("word start")
def word_start(text: str) -> np.ndarray:
    """1 on the first character of a word (a word character not preceded by one)."""
    word = _is_word_char(text)
    before = np.concatenate(([False], word[:-1]))
    return (word & ~before).astype(np.float64)


@feature("upper case")
def upper(text: str) -> np.ndarray:
    """1 on an upper-case letter (str.isupper)."""
    return char_test(text, str.isupper).astype(np.float64)


@feature("digit")
def digit(text: str) -> np.ndarray:
    """1 on an ASCII digit 0-9."""
    return _is_char(text, DIGITS).astype(np.float64)


@feature("vowel")
def vowel(text: str) -> np.ndarray:
    """1 on an ASCII vowel a, e, i, o, u in either case ('y' is not one)."""
    return _is_char(text, VOWELS).astype(np.float64)


@feature("punctuation")
def punctuation(text: str) -> np.ndarray:
    """1 on a punctuation character (Unicode category P*: .,;:!?'"-()[]{} and the like)."""
    return char_test(text, lambda c: unicodedata.category(c).startswith("P")).astype(np.float64)


@feature("whitespace")
def whitespace(text: str) -> np.ndarray:
    """1 on a space, tab, newline or other whitespace (str.isspace)."""
    return char_test(text, str.isspace).astype(np.float64)


@feature("indentation")
def indentation(text: str) -> np.ndarray:
    """Leading spaces of the current line read so far: within the indentation, the spaces up to
    and including t; after it, the line's whole indentation; 0 on a newline. Only ' ' counts (a
    tab ends the indentation)."""
    N = len(text)
    line_start = _last_at_or_before(_is_char(text, "\n")) + 1  # (N,) a newline starts a line
    # (N + 1,) the first non-space at or after each index 0..N (N if none): the first one
    # strictly after index j - 1 of the text shifted right by one
    shifted = np.concatenate(([False], ~_is_char(text, " ")))
    first_non_space = _first_after(shifted) - 1
    end_of_indent = first_non_space[line_start]  # (N,) where the line's indentation ends
    return (np.minimum(np.arange(N) + 1, end_of_indent) - line_start).astype(np.float64)
