"""Character n-gram yardsticks: interpolated modified Kneser–Ney models and the baseline table.

What a learner needs to read a loss curve: the validation loss (nats per character) of uniform,
unigram and 2..N-gram models fitted on the training split, plus a one-line verdict on where a
network's loss stands among them, cached per (corpus hash, split, order).

The model is Chen & Goodman's interpolated modified Kneser–Ney (1998, "An Empirical Study of
Smoothing Techniques for Language Modeling"; the recipe KenLM's lmplz follows), over ids:

    p_k(w | h) = (max(c_k(hw) - D_k(c_k(hw)), 0) + gamma_k(h) * p_{k-1}(w | h')) / c_k(h.)
    gamma_k(h) = D_k1 N1(h.) + D_k2 N2(h.) + D_k3 N3+(h.)          (the mass the discounts took)
    p_0(w)     = 1 / V                                            (every id gets probability)

where h' is h without its first character, c_k(h.) = sum_w c_k(hw), and a context with
c_k(h.) = 0 (never seen) passes the lower order through unchanged: p_k(w | h) = p_{k-1}(w | h').
At the top order c_n is the raw count; below it c_k(x) is the continuation count
N1+(.x) = the number of distinct characters seen before x in the training ids (so the k-gram
at the very start of the training ids, having nothing before it, adds nothing). D_k(c) is
D_k1, D_k2 or D_k3+ for c = 1, 2 or >= 3 (and 0 for c = 0). The unigram baseline is the order-1
model: raw character counts, discounted the same way and mixed with 1/V, so ids never seen in
training get gamma_1 / V.

Discounts, one triple per order k, from the count-of-counts n_r of the counts c_k that order uses
(raw at the top, continuation below): Y = n1/(n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2,
D3+ = 3 - 4Y n4/n3. When n1, n2 or n3 is zero or a discount comes out <= 0 (tiny or peculiar
counts; often the raw unigrams of a corpus where no character is rare), the whole triple falls
back to KenLM's --discount_fallback defaults (0.5, 1.0, 1.5). `discounting="single"` is plain
interpolated KN (one D = n1/(n1+2 n2) per order, fallback 0.5), kept for comparison.

The first characters of a scored text have shorter histories: character i (i < n-1) is scored
by the order-(i+1) level of the same model, i.e. the first character by the continuation
unigram mixed with uniform. Histories never reach outside the scored ids (the training text is
not used as a prefix of the validation text).

Counting is NumPy throughout: every k-gram is named by the rank of its (k-1)-gram prefix among
the training (k-1)-gram types times V plus its last id, so keys stay below len(train) * V and
never overflow int64 whatever V and n are; np.unique gives types, ranks and counts, and scoring
is np.searchsorted of the whole scored array, one order at a time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Discounting = Literal["modified", "single"]
# KenLM's lmplz --discount_fallback defaults: used when count-of-counts cannot give discounts.
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
_INT64_LIMIT = 2**63 - 1

BASELINES_FORMAT = "rnn-tui-ngram-baselines"
# Bump when the model or the scoring changes, so cached numbers from older code are recomputed.
BASELINES_VERSION = 1
METHOD = "interpolated modified Kneser-Ney (Chen & Goodman 1998), continuation counts below the top"


class BaselinesError(ValueError):
    """A baselines JSON document is malformed."""


# ---------------------------------------------------------------------------------------------
# discounts


def estimate_discounts(
    counts: np.ndarray, discounting: Discounting = "modified"
) -> tuple[float, float, float]:
    """(D1, D2, D3+) for counts 1, 2 and >= 3, from the count-of-counts of `counts` (zeros ignored)."""
    n1, n2, n3, n4 = (int(x) for x in np.bincount(np.minimum(counts, 5), minlength=6)[1:5])
    if discounting == "single":
        d = n1 / (n1 + 2 * n2) if n1 > 0 else FALLBACK_DISCOUNTS[0]
        return (d, d, d)
    if discounting != "modified":
        raise ValueError(f"discounting must be 'modified' or 'single', not {discounting!r}")
    if n1 == 0 or n2 == 0 or n3 == 0:
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    found = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # each D_r must be positive (else no mass reaches the lower order) and at most r
    if all(0.0 < d <= r for r, d in enumerate(found, start=1)):
        return found
    return FALLBACK_DISCOUNTS


# ---------------------------------------------------------------------------------------------
# counting


@dataclass(frozen=True, eq=False)  # holds arrays: identity, not element-wise, equality
class _Level:
    """One order k of a model: its k-gram types with the counts this order uses, per context the
    total and the discounted mass handed to order k-1."""

    k: int
    types: np.ndarray  # (T,) int64 sorted keys prefix_rank * V + last id (k = 1: the ids)
    discounted: np.ndarray  # (T,) float64 max(c - D(c), 0)
    ctx_total: np.ndarray  # (C,) float64 c(h.) per context rank
    ctx_gamma: np.ndarray  # (C,) float64 D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)
    discounts: tuple

    @classmethod
    def build(
        cls,
        k: int,
        types: np.ndarray,
        counts: np.ndarray,
        num_contexts: int,
        vocab_size: int,
        discounting: Discounting,
    ) -> _Level:
        """Discounts and context sums for `counts` (T,) of the k-gram `types` (T,)."""
        discounts = estimate_discounts(counts, discounting)
        per_count = np.array((0.0, *discounts))[np.minimum(counts, 3)]  # (T,) D(c), D(0) = 0
        prefix = types // vocab_size if k > 1 else np.zeros(len(types), dtype=np.int64)  # (T,)
        return cls(
            k=k,
            types=types,
            discounted=np.maximum(counts - per_count, 0.0),
            ctx_total=np.bincount(prefix, weights=counts, minlength=num_contexts),
            ctx_gamma=np.bincount(prefix, weights=per_count, minlength=num_contexts),
            discounts=discounts,
        )

    def lookup(self, ctx: np.ndarray, w: np.ndarray, vocab_size: int) -> np.ndarray:
        """Rank of the k-gram (context rank `ctx`, id `w`) among the types, -1 where unseen."""
        if self.k == 1:
            return w.copy()
        if len(self.types) == 0:
            return np.full(len(w), -1, dtype=np.int64)
        key = np.where(ctx >= 0, ctx * vocab_size + w, -1)  # (M,)
        idx = np.minimum(np.searchsorted(self.types, key), len(self.types) - 1)
        return np.where((self.types[idx] == key) & (ctx >= 0), idx, -1)

    def prob(self, ctx: np.ndarray, rank: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """p_k(w | h) for contexts `ctx` (M,), k-gram ranks `rank` (M,) and p_{k-1} `lower` (M,)."""
        if len(self.types) == 0:  # no k-grams in training: every context passes p_{k-1} on
            return lower.copy()
        c = np.maximum(ctx, 0)
        total = np.where(ctx >= 0, self.ctx_total[c], 0.0)  # (M,)
        kept = np.where(rank >= 0, self.discounted[np.maximum(rank, 0)], 0.0)  # (M,)
        seen = total > 0
        mixed = (kept + self.ctx_gamma[c] * lower) / np.where(seen, total, 1.0)
        return np.where(seen, mixed, lower)


class _NgramCounts:
    """Types, raw counts and continuation counts of the training k-grams, k = 1, 2, ...,
    grown one order at a time so callers can stop (or report) between orders."""

    def __init__(self, train_ids: np.ndarray, vocab_size: int):
        self.vocab_size = vocab_size
        self.ids = _checked_ids(train_ids, vocab_size, "training ids")  # (L,) int64
        if len(self.ids) * vocab_size > _INT64_LIMIT:
            raise ValueError(
                f"{len(self.ids)} training ids x vocabulary {vocab_size} overflows int64 keys"
            )
        self.types: list[np.ndarray] = [np.arange(vocab_size, dtype=np.int64)]  # [k-1]: (T_k,)
        self.raw: list[np.ndarray] = [np.bincount(self.ids, minlength=vocab_size)]
        self.cont: list[np.ndarray] = []  # [k-1]: continuation counts (T_k,), known below the top
        self._ranks = self.ids  # rank of the k-gram ending at each position i >= k-1, (L-k+1,)
        self._lower: dict[tuple[int, str], _Level] = {}  # continuation-count levels

    @property
    def order(self) -> int:
        """Highest order counted so far."""
        return len(self.types)

    def grow(self) -> None:
        """Count the (k+1)-grams and, from them, the continuation counts of the k-grams."""
        k = self.order
        V = self.vocab_size
        prev = self._ranks  # (L-k+1,) ranks of k-grams ending at positions k-1 ..
        # the (k+1)-gram ending at i is (the k-gram ending at i-1, ids[i]), i = k .. L-1
        keys = prev[:-1] * V + self.ids[k:]  # (L-k,)
        types, ranks, counts = np.unique(keys, return_inverse=True, return_counts=True)
        ranks = ranks.reshape(-1).astype(np.int64, copy=False)
        # suffix of each (k+1)-gram type = the k-gram ending at the same position (any occurrence)
        suffix = np.empty(len(types), dtype=np.int64)
        suffix[ranks] = prev[1:]
        self.cont.append(np.bincount(suffix, minlength=len(self.types[-1])))
        self.types.append(types.astype(np.int64, copy=False))
        self.raw.append(counts.astype(np.int64, copy=False))
        self._ranks = ranks

    def level(self, k: int, top: bool, discounting: Discounting) -> _Level:
        """Order k with raw counts (`top`, used by one model) or continuation counts (shared by
        every higher-order model, so built once)."""
        key = (k, discounting)
        if top or key not in self._lower:
            counts = self.raw[k - 1] if top else self.cont[k - 1]
            contexts = 1 if k == 1 else len(self.types[k - 2])
            level = _Level.build(
                k, self.types[k - 1], counts, contexts, self.vocab_size, discounting
            )
            if top:
                return level
            self._lower[key] = level
        return self._lower[key]

    def model(self, order: int, discounting: Discounting) -> KneserNey:
        """The order-`order` model (needs orders up to `order` counted)."""
        while self.order < order:
            self.grow()
        levels = [self.level(k, k == order, discounting) for k in range(1, order + 1)]
        return KneserNey(self.vocab_size, order, discounting, tuple(levels))


def _checked_ids(ids: np.ndarray, vocab_size: int, what: str) -> np.ndarray:
    """`ids` as a 1-D int64 array, ValueError unless every id is in 0..V-1."""
    if not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, not {vocab_size!r}")
    arr = np.asarray(ids)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"{what} must be a 1-D array of integer ids")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"{what} must lie in 0..{vocab_size - 1} (vocabulary size {vocab_size})")
    return arr


# ---------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True, eq=False)  # holds arrays: identity, not element-wise, equality
class KneserNey:
    """A fitted character n-gram model; see the module docstring for the exact formulas."""

    vocab_size: int
    order: int
    discounting: str
    levels: tuple = field(repr=False)  # (_Level,) orders 1 .. order

    @property
    def discounts(self) -> tuple[tuple[float, float, float], ...]:
        """(D1, D2, D3+) of each order 1 .. order, for the docs and the curious."""
        return tuple(level.discounts for level in self.levels)

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """ln p(ids[i] | ids[max(0, i-n+1):i]) for every position, (M,) float64."""
        x = _checked_ids(ids, self.vocab_size, "ids")  # (M,)
        V = self.vocab_size
        first = self.levels[0]
        p = first.prob(np.zeros(len(x), dtype=np.int64), x, np.full(len(x), 1.0 / V))  # (M,)
        ranks = x  # ranks of the (k-1)-grams ending at positions k-2 ..
        for level in self.levels[1:]:
            k = level.k
            if len(x) < k:
                break
            ctx = ranks[:-1]  # (M-k+1,) the (k-1)-gram before position i = k-1 ..
            ranks = level.lookup(ctx, x[k - 1 :], V)
            # positions before k-1 keep their shorter-history probability
            p[k - 1 :] = level.prob(ctx, ranks, p[k - 1 :])
        return np.log(p)

    def cross_entropy(self, ids: np.ndarray) -> float:
        """Mean negative log-likelihood of `ids` in nats per character (every character scored)."""
        if len(ids) == 0:
            raise ValueError("cross_entropy needs at least one character")
        return float(-np.mean(self.log_probs(ids)))

    def distribution(self, context_ids: np.ndarray) -> np.ndarray:
        """p(. | the last order-1 ids of `context_ids`), (V,) summing to 1."""
        V = self.vocab_size
        ctx_ids = _checked_ids(context_ids, V, "context ids")
        ctx_ids = ctx_ids[len(ctx_ids) - min(len(ctx_ids), self.order - 1) :]
        candidates = np.arange(V, dtype=np.int64)
        p = self.levels[0].prob(np.zeros(V, dtype=np.int64), candidates, np.full(V, 1.0 / V))
        # rank of the j-gram made of the last j context ids, j = 1 .. len(ctx), found by the
        # same left-to-right walk as log_probs (a key is prefix rank * V + last id)
        ends: list[int] = []
        ranks = ctx_ids
        for j in range(1, len(ctx_ids) + 1):
            if j > 1:
                ranks = self.levels[j - 1].lookup(ranks[:-1], ctx_ids[j - 1 :], V)
            ends.append(int(ranks[-1]))
        for level, rank in zip(self.levels[1:], ends, strict=False):
            ctx = np.full(V, rank, dtype=np.int64)
            p = level.prob(ctx, level.lookup(ctx, candidates, V), p)
        return p


def fit_kneser_ney(
    train_ids: np.ndarray, vocab_size: int, order: int, discounting: Discounting = "modified"
) -> KneserNey:
    """The interpolated Kneser–Ney model of `order` fitted on `train_ids` (ids < vocab_size)."""
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, not {order!r}")
    estimate_discounts(np.zeros(0, dtype=np.int64), discounting)  # validates the name early
    return _NgramCounts(train_ids, vocab_size).model(int(order), discounting)


# ---------------------------------------------------------------------------------------------
# the baseline table


@dataclass(frozen=True)
class Baselines:
    """Validation nats/char of uniform (ln V), unigram and n-gram models, n = 2 .. order."""

    uniform: float
    unigram: float
    ngram: dict[int, float]
    order: int

    def __post_init__(self) -> None:
        if sorted(self.ngram) != list(range(2, self.order + 1)):
            raise BaselinesError(
                f"ngram must hold orders 2..{self.order}, not {sorted(self.ngram)}"
            )
        for value in (self.uniform, self.unigram, *self.ngram.values()):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BaselinesError(f"a baseline must be a number, not {value!r}")
            if not (math.isfinite(value) and value >= 0):
                raise BaselinesError(f"a baseline must be a finite loss >= 0, not {value!r}")

    def yardsticks(self) -> list[tuple[str, float]]:
        """(label, nats/char) for every reference line: uniform, unigram, 2-gram .. order-gram."""
        lines = [("uniform", self.uniform), ("unigram", self.unigram)]
        return lines + [(f"{n}-gram", self.ngram[n]) for n in range(2, self.order + 1)]

    def beaten_by(self, loss: float) -> list[str]:
        """Labels of the yardsticks strictly above `loss` (those a model at `loss` beats)."""
        if not math.isfinite(loss):
            return []
        return [label for label, value in self.yardsticks() if loss < value]

    def describe(self, loss: float) -> str:
        """Where `loss` stands, for the status panel: 'beats 3-gram (1.98), not 4-gram (1.85)'."""
        if not math.isfinite(loss):
            return ""
        above = [(v, label) for label, v in self.yardsticks() if loss < v]
        below = [(v, label) for label, v in self.yardsticks() if loss >= v]
        if not above:
            value, label = max(below)
            return f"worse than {label} ({value:.2f})"
        value, label = min(above)
        text = f"beats {label} ({value:.2f})"
        if below:
            value, label = max(below)
            text += f", not {label} ({value:.2f})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (order keys as strings, as JSON requires)."""
        return {
            "uniform": float(self.uniform),
            "unigram": float(self.unigram),
            "ngram": {str(n): float(v) for n, v in sorted(self.ngram.items())},
            "order": int(self.order),
        }

    @classmethod
    def from_dict(cls, data: object) -> Baselines:
        """Inverse of to_dict; BaselinesError on anything else."""
        if not isinstance(data, dict) or set(data) != {"uniform", "unigram", "ngram", "order"}:
            raise BaselinesError("baselines must be an object with uniform, unigram, ngram, order")
        order, ngram = data["order"], data["ngram"]
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise BaselinesError(f"order must be a positive integer, not {order!r}")
        if not isinstance(ngram, dict) or not all(
            isinstance(k, str) and k.isdigit() and str(int(k)) == k for k in ngram
        ):
            raise BaselinesError("ngram must map order numbers to losses")
        return cls(data["uniform"], data["unigram"], {int(k): v for k, v in ngram.items()}, order)

    def to_json(self) -> str:
        """Strict JSON (no NaN or Infinity)."""
        return json.dumps(self.to_dict(), allow_nan=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Baselines:
        """Inverse of to_json; BaselinesError on malformed or non-strict JSON."""
        return cls.from_dict(_strict_json(text))


def _strict_json(text: str) -> object:
    """json.loads that refuses NaN and Infinity, raising BaselinesError on any defect."""

    def refuse(name: str) -> None:
        raise BaselinesError(f"{name} is not strict JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except (json.JSONDecodeError, TypeError, RecursionError) as exc:
        raise BaselinesError(f"not valid JSON: {exc}") from None


def compute_baselines(
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    vocab_size: int,
    order: int = 5,
    should_abort: Callable[[], bool] | None = None,
    on_order: Callable[[int, float], None] | None = None,
    discounting: Discounting = "modified",
) -> Baselines | None:
    """The baseline table: models fitted on `train_ids`, scored on `val_ids`, orders 1 .. order.

    Orders are counted and scored one at a time, lowest first; `should_abort` is asked before
    each, and if it says yes the work stops and None is returned. `on_order(n, loss)` hears each
    order's result as it lands (n = 1 is the unigram).
    """
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, not {order!r}")
    val = _checked_ids(val_ids, vocab_size, "validation ids")
    if len(val) == 0:
        raise ValueError("the validation split is empty: no baselines to compute")
    counts = _NgramCounts(train_ids, vocab_size)
    losses: dict[int, float] = {}
    for n in range(1, int(order) + 1):
        if should_abort is not None and should_abort():
            return None
        losses[n] = counts.model(n, discounting).cross_entropy(val)
        if on_order is not None:
            on_order(n, losses[n])
    unigram = losses.pop(1)
    return Baselines(math.log(vocab_size), unigram, losses, int(order))


# ---------------------------------------------------------------------------------------------
# the cache


def baselines_cache_file(
    cache_dir: Path, corpus_sha256: str, val_fraction: float, order: int, val_chars: int = 0
) -> Path:
    """Where the baselines of (corpus, split, order) live inside `cache_dir` (`val_chars` > 0:
    scored on the first val_chars ids of the validation split only)."""
    safe = "".join(c for c in corpus_sha256 if c.isalnum())[:64] or "unknown"
    part = f"-first{int(val_chars)}" if val_chars else ""
    return Path(cache_dir) / f"ngram-{safe}-val{float(val_fraction)!r}{part}-order{int(order)}.json"


def load_or_compute_baselines(
    cache_dir: Path,
    corpus_sha256: str,
    val_fraction: float,
    order: int,
    compute: Callable[[], Baselines | None],
    val_chars: int = 0,
) -> Baselines | None:
    """The cached baselines of (corpus hash, split, order), or `compute()`'s, then cached.

    `val_chars` > 0 says `compute` scores only the first val_chars ids of the validation split
    (as the network's validation pass does with --val-chars); it joins the key.
    A missing, unreadable, damaged or foreign cache file is recomputed; a cache that cannot be
    written is skipped. Only `compute` itself can raise. None (an aborted compute) is not cached.
    """
    path = baselines_cache_file(cache_dir, corpus_sha256, val_fraction, order, val_chars)
    key = {
        "format": BASELINES_FORMAT,
        "version": BASELINES_VERSION,
        "method": METHOD,
        "corpus_sha256": corpus_sha256,
        "val_fraction": float(val_fraction),
        "order": int(order),
    }
    if val_chars:
        key["val_chars"] = int(val_chars)
    cached = _read_cached(path, key)
    if cached is not None:
        return cached
    baselines = compute()
    if baselines is not None:
        _write_atomically(path, json.dumps({**key, "baselines": baselines.to_dict()}, indent=1))
    return baselines


def _read_cached(path: Path, key: dict[str, Any]) -> Baselines | None:
    """The baselines in `path` if it is a sound file written for exactly `key`, else None."""
    try:
        data = _strict_json(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or {k: data.get(k) for k in key} != key:
            return None
        baselines = Baselines.from_dict(data.get("baselines"))
    except (OSError, UnicodeDecodeError, BaselinesError):
        return None
    return baselines if baselines.order == key["order"] else None


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`; give up quietly."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # a cache is an optimisation: an unwritable folder must not stop the dashboard
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
