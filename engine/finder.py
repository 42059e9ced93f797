"""The interpretable-cell finder: which units of a traced model track which text features.

Two questions, both answered with Pearson correlations over the positions of a `Trace`:

- `find_cells`: for every unit of every layer (h, and for LSTM also the memory c) and every
  registered text feature (engine.features), r between the unit's values and the feature's,
  ranked by |r|. (Karpathy, Johnson and Fei-Fei 2015 found quote, line-length and bracket cells
  by looking; this finds candidates by measuring.)
- `rank_span`: LSTMVis's hypothesis test (Strobelt et al. 2017). The user marks a span of the
  passage; the hypothesis is the 0/1 mask of that span and of the text like it (`span_mask`:
  every other occurrence of the same substring by default, or of the same character-class
  pattern, or the span alone). Units are ranked by the point-biserial correlation with the
  mask, which is Pearson's r with a 0/1 variable and equals
      (mean inside - mean outside) / std * sqrt(p (1 - p)),     p = the fraction inside,
  so for one mask the ranking is the standardised difference of means, and r is comparable
  across spans.

All correlations are one matrix product of standardised columns: each column is centred and
scaled to unit norm, so Z_x^T Z_f is r for every (unit, feature) pair at once. A column with no
variance (a dead unit, a feature absent from the passage) is all zeros and gets r = 0, never NaN.
The work is done per (layer, signal) block, polling `should_abort` and reporting `progress`
between blocks, so a UI worker can show a bar and be cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .features import FEATURES, Feature, feature_matrix
from .model import CharModel
from .probe import ProbeCancelled, Progress, ShouldAbort, Trace, trace

DEFAULT_SIGNALS = ("h", "c")
# a column whose spread is below this fraction of its largest magnitude is constant up to
# rounding (a constant float32 column's mean is off by an ulp, which plain centring would blow
# up into a +-1 pattern of noise)
RELATIVE_VARIANCE_FLOOR = 1e-10
SPAN_MATCHES = ("substring", "pattern", "span")
TRACE_SHARE = 0.9  # of search_cells' progress: tracing is most of the work, correlating the rest


@dataclass(frozen=True)
class CellMatch:
    """One unit's correlation with one feature."""

    layer: int
    signal: str  # "h" or "c" (or a gate name when asked for)
    unit: int
    feature: str  # a key of engine.features.FEATURES
    r: float  # Pearson correlation over the passage, in [-1, 1]


@dataclass(frozen=True)
class SpanMatch:
    """One unit's selectivity for a marked span and the text like it."""

    layer: int
    signal: str
    unit: int
    r: float  # point-biserial correlation with the span mask, in [-1, 1]
    mean_inside: float  # the unit's mean value where the mask is 1
    mean_outside: float  # and where it is 0


@dataclass(frozen=True, eq=False)
class CorrelationTable:
    """r for every (unit, column) pair: rows are units in (layer, signal, unit) order."""

    units: tuple[tuple[int, str, int], ...]  # (K,) (layer, signal, unit) of each row
    columns: tuple[str, ...]  # (M,) feature names
    r: np.ndarray  # (K, M)


def standardise(a: np.ndarray) -> np.ndarray:
    """(N, K) columns centred and scaled to unit norm (float64, a new array); constant columns
    (spread below RELATIVE_VARIANCE_FLOOR of their magnitude) become zeros."""
    z = np.array(a, dtype=np.float64)  # (N, K) our own copy
    if z.shape[0] == 0:
        return z
    z -= z.mean(axis=0)
    norm = np.sqrt(np.einsum("nk,nk->k", z, z))  # (K,) sqrt(N) * std
    magnitude = np.abs(a).max(axis=0) * np.sqrt(z.shape[0])  # (K,) on the same footing as norm
    live = norm > RELATIVE_VARIANCE_FLOOR * magnitude
    z *= np.divide(1.0, norm, out=np.zeros_like(norm), where=live)
    return z


def correlate(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Pearson r of every column of x (N, K) with every column of f (N, M): (K, M), zeros where
    a column is constant."""
    return np.clip(standardise(x).T @ standardise(f), -1.0, 1.0)


def correlation_table(
    trace: Trace,
    columns: np.ndarray,
    names: Sequence[str],
    signals: Iterable[str] = DEFAULT_SIGNALS,
    *,
    progress: Progress | None = None,
    should_abort: ShouldAbort | None = None,
) -> CorrelationTable:
    """r of every unit of the chosen signals (those the trace has) with each column (N, M).

    One standardised product per (layer, signal) block; `progress` gets the fraction done and
    `should_abort` is polled after each block (ProbeCancelled when it returns True).
    """
    N = len(trace)
    if columns.shape[0] != N:
        raise ValueError(f"{columns.shape[0]} rows of features for a trace of {N} positions")
    wanted = tuple(signals)
    blocks = [(k, n) for k in range(trace.num_layers) for n in trace.names if n in wanted]
    if not blocks:
        raise ValueError(f"the trace has none of the signals {wanted} (it has {trace.names})")
    zf = standardise(columns)  # (N, M)
    H = trace.hidden_size
    r = np.empty((len(blocks) * H, zf.shape[1]))  # (K, M)
    units: list[tuple[int, str, int]] = []
    for b, (layer, name) in enumerate(blocks):
        r[b * H : (b + 1) * H] = standardise(trace.signal(layer, name)).T @ zf
        units.extend((layer, name, u) for u in range(H))
        if progress is not None:
            progress((b + 1) / len(blocks))
        if should_abort is not None and should_abort():
            raise ProbeCancelled
    np.clip(r, -1.0, 1.0, out=r)  # rounding can overshoot 1 by an ulp
    return CorrelationTable(units=tuple(units), columns=tuple(names), r=r)


def find_cells(
    trace: Trace,
    text: str,
    features: Mapping[str, Feature] | Iterable[str] = FEATURES,
    signals: Iterable[str] = DEFAULT_SIGNALS,
    top: int | None = None,
    *,
    progress: Progress | None = None,
    should_abort: ShouldAbort | None = None,
) -> list[CellMatch]:
    """Every (unit, feature) pair ranked by |r|, strongest first (the `top` first if given).

    `text` is the traced passage (len(text) == len(trace)); `features` a registry mapping or
    names of registered features; `signals` the trace's signals to search (those it lacks, such
    as c for a GRU, are skipped). Ties keep (layer, signal, unit, feature) order.
    """
    if len(text) != len(trace):
        raise ValueError(f"the text has {len(text)} characters, the trace {len(trace)} positions")
    names, columns = feature_matrix(text, features)  # (N, M)
    table = correlation_table(
        trace, columns, names, signals, progress=progress, should_abort=should_abort
    )
    order = np.argsort(-np.abs(table.r).ravel(), kind="stable")  # (K * M,)
    if top is not None:
        order = order[:top]
    M = len(names)
    matches = []
    for flat in order.tolist():
        layer, signal, unit = table.units[flat // M]
        matches.append(CellMatch(layer, signal, unit, names[flat % M], float(table.r.flat[flat])))
    return matches


def search_cells(
    model: CharModel,
    params: Mapping[str, np.ndarray],
    text: str,
    ids: np.ndarray,
    warmup_ids: np.ndarray | None = None,
    top: int | None = None,
    *,
    progress: Progress | None = None,
    should_abort: ShouldAbort | None = None,
) -> list[CellMatch]:
    """Trace `text` (its ids) from a state warmed on `warmup_ids`, keeping h and c, and rank its
    units with `find_cells`: the whole search as one function of plain data, so it can run in
    a background process (engine.offload). `params` is only read."""
    traced = trace(
        model,
        params,
        ids,
        warmup_ids,
        keep=DEFAULT_SIGNALS,
        progress=None if progress is None else (lambda f: progress(TRACE_SHARE * f)),
        should_abort=should_abort,
    )
    return find_cells(
        traced,
        text,
        top=top,
        progress=None
        if progress is None
        else (lambda f: progress(TRACE_SHARE + (1 - TRACE_SHARE) * f)),
        should_abort=should_abort,
    )


def char_class(c: str) -> str:
    """A character's class for span patterns: 'A' upper-case letter, 'a' other letter, '0' digit,
    '\\n' newline, ' ' other whitespace, '.' anything else (punctuation, symbols)."""
    if c.isalpha():
        return "A" if c.isupper() else "a"
    if c in "0123456789":
        return "0"
    if c == "\n":
        return "\n"
    return " " if c.isspace() else "."


def span_mask(text: str, start: int, end: int, match: str = "substring") -> np.ndarray:
    """(N,) bool: the hypothesis of a marked span text[start:end].

    match = "substring": every occurrence of the same substring (overlapping ones too);
    "pattern": every run with the same sequence of character classes (char_class: "Hamlet" is
    "Aaaaaa", "1601" is "0000"); "span": the marked positions only.
    """
    if not 0 <= start < end <= len(text):
        raise ValueError(f"span [{start}, {end}) is not a non-empty part of {len(text)} characters")
    if match not in SPAN_MATCHES:
        raise ValueError(f"match must be one of {', '.join(SPAN_MATCHES)} (got {match!r})")
    N, length = len(text), end - start
    if match == "span":
        starts = [start]
    else:
        haystack = text if match == "substring" else "".join(map(char_class, text))
        needle = haystack[start:end]
        starts, at = [], haystack.find(needle)
        while at != -1:
            starts.append(at)
            at = haystack.find(needle, at + 1)
    # each occurrence adds +1 at its start and -1 after its end; the running sum covers them
    edges = np.zeros(N + 1, dtype=np.int64)
    np.add.at(edges, np.asarray(starts), 1)
    np.add.at(edges, np.asarray(starts) + length, -1)
    return np.cumsum(edges[:N]) > 0


def rank_span(
    trace: Trace,
    text: str,
    start: int,
    end: int,
    *,
    match: str = "substring",
    signals: Iterable[str] = DEFAULT_SIGNALS,
    top: int | None = None,
    progress: Progress | None = None,
    should_abort: ShouldAbort | None = None,
) -> list[SpanMatch]:
    """Units ranked by |point-biserial r| with span_mask(text, start, end, match), strongest
    first: the units that fire (or fall silent) on the marked span and text like it."""
    if len(text) != len(trace):
        raise ValueError(f"the text has {len(text)} characters, the trace {len(trace)} positions")
    mask = span_mask(text, start, end, match)  # (N,)
    table = correlation_table(
        trace,
        mask[:, None].astype(np.float64),
        ("span",),
        signals,
        progress=progress,
        should_abort=should_abort,
    )
    r = table.r[:, 0]  # (K,)
    order = np.argsort(-np.abs(r), kind="stable")
    if top is not None:
        order = order[:top]
    inside = mask.astype(np.float64) / max(int(mask.sum()), 1)  # (N,) weights of the two means
    outside = (~mask).astype(np.float64) / max(int((~mask).sum()), 1)
    matches = []
    for k in order.tolist():
        layer, signal, unit = table.units[k]
        column = trace.signal(layer, signal)[:, unit]
        matches.append(
            SpanMatch(
                layer, signal, unit, float(r[k]), float(inside @ column), float(outside @ column)
            )
        )
    return matches
