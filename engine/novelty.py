"""Novelty of generated samples: how much of a sample is copied verbatim from the training text.

What a learner reading a sample wants to know: is this new, or lifted from the book? For every
position i of a sample this module finds L[i], the length of the longest prefix of sample[i:]
that occurs somewhere in the training text (the *matching statistics* of the sample), and sums
them up as a `Novelty`: the longest copied stretch and where it starts, and the share of the
sample's characters that lie inside copied stretches of at least `min_copy` characters.

`NoveltyIndex.build(train_ids)` makes a suffix array of the training ids once (meant for a
background thread: it polls `should_abort` between rounds and raises `NoveltyCancelled`); every
sample is then answered against it in milliseconds.

The suffix array is built by prefix doubling (Manber & Myers 1993) with the refinement of
Larsson & Sadakane ("Faster suffix sorting", 2007): a position whose group of equal prefixes
has become a singleton is settled and never touched again.

- start: the first p ids of every suffix (as many as fit), packed into one int64 together with
  the position and sorted with one np.sort (no argsort: the position rides in the low bits);
- round (h -> 2h): the slots of the unsettled groups, in slot order, are keyed by (group,
  rank of suffix i + h) and sorted with a stable argsort. The keys arrive sorted by group, so
  timsort only has to order each group's members (tens of milliseconds for 3 MB once groups
  are small); groups split where the second halves differ. The number of rounds is about
  log2(longest repeat / p): 19 for tinyshakespeare repeated to 3 MB, a handful for real text.

A group's rank is the slot of its first member, so settled positions keep their final slot as
their rank and nothing needs renumbering; a round reads only old ranks and writes new ones at
its end, so every round compares exactly 2h ids.

Matching statistics use the fact that, for any pattern, the text suffix sharing the longest
prefix with it is a neighbour of the pattern's insertion point in the suffix array. All sample
positions are bisected at once (one NumPy step per level, about log2(n) levels); every
comparison skips the min(lcp(lower bound), lcp(upper bound)) characters already known to match
(the min(l, r) accelerant of Manber & Myers) and compares the rest in windows that double, so a long copy
costs about its own length and not its length times log n. At the end the lcps with the two
neighbours are exact and L[i] is their maximum; no per-position rescanning (and hence no need
for the L[i+1] >= L[i] - 1 shortcut).

Ids are any non-negative integers (as Vocab.encode returns); a sample id never seen in the
training text simply matches nothing (L = 0 there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ShouldAbort = Callable[[], bool]  # polled between rounds of the build; True cancels

DEFAULT_MIN_COPY = 10  # a copied stretch shorter than this is common phrasing, not copying
_FIRST_WINDOW = 16  # characters compared per step of a bisection before the window doubles
_WINDOW_BUDGET = 1 << 20  # the doubling window stops growing at this many ids in flight
_TEXT_END = -1  # after the last training id: smaller than every id, so shorter suffixes sort first
_SAMPLE_END = -2  # after the last sample id: differs from every text value, ends every comparison


class NoveltyCancelled(Exception):
    """NoveltyIndex.build's `should_abort` returned True; no index was made."""


# ---------------------------------------------------------------------------------------------
# the suffix array


def suffix_array(
    ids: np.ndarray, should_abort: ShouldAbort | None = None, *, ids_per_key: int | None = None
) -> np.ndarray:
    """The start positions of all suffixes of `ids` in lexicographic order.

    A suffix that is a prefix of another sorts first. `ids` is a 1-D array of fewer than 2**31
    non-negative integers (two positions must fit one int64 key); the result is int32, read-only.
    `ids_per_key` caps how many ids the first sort packs into a key (default: as many as fit);
    small texts fit whole in one key, so tests cap it to exercise the doubling rounds.
    """
    ids = _checked_ids(ids, "training ids")
    n = len(ids)
    if n >= 2**31:
        raise ValueError(f"a text of {n:,} ids is too long to index (at most 2**31 - 1)")
    if n <= 1:
        return _read_only(np.zeros(n, dtype=np.int32))
    if ids_per_key is not None and ids_per_key < 1:
        raise ValueError(f"ids_per_key must be at least 1, not {ids_per_key}")
    state = _Doubling.start(ids, ids_per_key)
    while state.unsettled:
        if should_abort is not None and should_abort():
            raise NoveltyCancelled("building the novelty index was cancelled")
        state.double()
    return _read_only(state.sa)


class _Doubling:
    """Prefix doubling: the positions sorted by their first `h` ids, grouped where those agree.

    sa[t]         the position at slot t                                        (n,) int32
    rank[i]       the slot of the first member of position i's group; rank[n] = -1, the
                  empty suffix, so rank[min(i + h, n)] needs no mask            (n + 1,) int32
    slot_rank[t]  rank[sa[t]], kept in slot order so it is read sequentially    (n,) int32
    open_slot[t]  the group at slot t has more than one member                  (n,) bool
    """

    def __init__(self, sa, rank, slot_rank, open_slot, h: int):
        self.sa = sa
        self.rank = rank
        self.slot_rank = slot_rank
        self.open_slot = open_slot
        self.h = h  # the groups hold positions whose first h ids agree
        self.n = len(sa)
        self.rank_bits = self.n.bit_length()  # bits for rank + 1, in 0..n
        self.unsettled = int(open_slot.sum())

    @classmethod
    def start(cls, ids: np.ndarray, ids_per_key: int | None = None) -> _Doubling:
        """Sorted by the first p ids, p as many as fit one int64 beside the position."""
        n = len(ids)
        bits = (n - 1).bit_length()  # bits that hold any position
        # Dense codes 1..sigma (0 = past the end), so packing needs as few bits as there are
        # distinct ids, whatever their values.
        distinct = np.sort(ids)
        distinct = distinct[np.concatenate(([True], distinct[1:] != distinct[:-1]))]
        codes = np.searchsorted(distinct, ids).astype(np.int64) + 1  # (n,)
        code_bits = len(distinct).bit_length()
        per_key = min(max(1, (63 - bits) // code_bits), n, ids_per_key or n)

        key = np.zeros(n, dtype=np.int64)  # (n,)
        for j in range(per_key):  # a handful of vectorised passes, not a loop over characters
            key <<= code_bits
            key[: n - j] |= codes[j:]
        del codes
        key <<= bits
        key |= np.arange(n, dtype=np.int64)
        key.sort()  # the position rides in the low bits: np.sort, no argsort
        sa = (key & ((1 << bits) - 1)).astype(np.int32)
        key >>= bits  # the packed prefixes, sorted
        starts = np.empty(n, dtype=bool)
        starts[0] = True
        np.not_equal(key[1:], key[:-1], out=starts[1:])
        del key
        slot_rank = _first_of_run(starts).astype(np.int32)
        rank = np.empty(n + 1, dtype=np.int32)
        rank[sa] = slot_rank
        rank[n] = -1
        return cls(sa, rank, slot_rank, ~_singletons(starts), per_key)

    def double(self) -> None:
        """One round, h -> 2h: every unsettled group sorted by its members' rank of i + h."""
        n, h, sa = self.n, self.h, self.sa
        if self.unsettled < n:
            slots = np.flatnonzero(self.open_slot).astype(np.int32)  # (u,) ascending
            where: np.ndarray | slice = slots
        else:  # every slot: slices, not fancy indexing, while nothing has settled
            slots, where = np.arange(n, dtype=np.int32), slice(None)
        positions = sa[where]  # (u,)
        group = self.slot_rank[where].astype(np.int64)  # (u,)
        # (group, rank of the second half + 1), the empty second half (rank[n] = -1) first.
        key = group
        key <<= self.rank_bits
        key |= self.rank[np.minimum(positions, n - h) + h] + 1  # = rank[min(i + h, n)], in int32
        # The keys are already sorted by group, so the stable sort (timsort) only has to
        # order each group's members: fast when groups are small, as they are after a while.
        perm = np.argsort(key, kind="stable")
        moved = positions[perm]  # (u,) the unsettled positions in their new order
        key = key[perm]
        del perm, positions, group
        starts = np.empty(len(key), dtype=bool)
        starts[0] = True
        np.not_equal(key[1:], key[:-1], out=starts[1:])
        del key
        # The unsettled slots are exactly the slots of the unsettled groups, and the new order
        # keeps every member inside its old group's slots.
        sa[where] = moved
        first = slots[_first_of_run(starts)]
        self.rank[moved] = first  # written only now: the round read the old ranks throughout
        self.slot_rank[where] = first
        single = _singletons(starts)
        self.open_slot[where] = ~single
        self.unsettled = len(slots) - int(single.sum())
        self.h = 2 * h


def _first_of_run(starts: np.ndarray) -> np.ndarray:
    """For each member of the runs that `starts` marks, the index of its run's first member."""
    first = np.where(starts, np.arange(len(starts), dtype=np.int32), np.int32(0))  # (k,)
    np.maximum.accumulate(first, out=first)
    return first


def _singletons(starts: np.ndarray) -> np.ndarray:
    """For each member of runs marked by `starts`, whether its run has one member only."""
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = True
    return starts & ends


# ---------------------------------------------------------------------------------------------
# matching statistics and the index


@dataclass(frozen=True)
class Novelty:
    """How much of one sample is copied from the training text (positions index the sample)."""

    longest_copy: int  # length of the longest stretch of the sample found in the training text
    longest_start: int  # where in the sample that stretch starts (the first if several; 0 if none)
    copied_fraction: float  # share of characters inside copied stretches of >= min_copy chars
    min_copy: int  # the threshold copied_fraction used
    sample_length: int

    def longest_text(self, sample_text: str) -> str:
        """The longest copied stretch, cut from the sample's own text (one character per id)."""
        return sample_text[self.longest_start : self.longest_start + self.longest_copy]

    def to_log(self) -> dict[str, int | float]:
        """The fields of a JSONL metrics record."""
        return {"longest_copy": self.longest_copy, "copied_fraction": self.copied_fraction}

    def describe(self, sample_text: str, width: int = 80) -> str:
        """One line for a learner, at most `width` characters.

        'longest copy 23 chars: "he was a…" · 31% in copies of 10+'; the quoted stretch is cut
        with '…' to fit, newlines shown as ⏎ and tabs as ⇥.
        """
        if self.longest_copy == 0:
            return _fit("nothing copied from the training text", width)
        head = f"longest copy {self.longest_copy} char{'s' if self.longest_copy != 1 else ''}: "
        tail = f" · {_percent(self.copied_fraction)} in copies of {self.min_copy}+"
        room = width - len(head) - len(tail) - 2  # 2 for the quotes
        if room < 4:  # too narrow for a useful quote: the numbers alone
            return _fit(f"longest copy {self.longest_copy}{tail}", width)
        return head + '"' + _fit(_visible(self.longest_text(sample_text)), room) + '"' + tail


class NoveltyIndex:
    """The training text with its suffix array: answers how much of a sample it contains."""

    def __init__(self, train_ids: np.ndarray, sa: np.ndarray):
        """Use `build`; this trusts that `sa` is the suffix array of `train_ids`."""
        ids = _checked_ids(train_ids, "training ids")
        n = len(ids)
        if sa.shape != (n,):
            raise ValueError(f"suffix array has shape {sa.shape}, expected ({n},)")
        self._n = n
        self._sa = sa  # (n,) positions in suffix order
        # The text, signed (int16 for any vocabulary up to 32767 ids), with an end marker at
        # index n, so windows that run past the end read the marker (clipped indices).
        top = int(ids.max()) if n else 0
        dtype = np.int16 if top < 2**15 else np.int32 if top < 2**31 else np.int64
        text = np.empty(n + 1, dtype=dtype)
        text[:n] = ids
        text[n] = _TEXT_END
        self._text = text  # (n + 1,)

    @classmethod
    def build(cls, train_ids: np.ndarray, should_abort: ShouldAbort | None = None) -> NoveltyIndex:
        """Index `train_ids` (seconds for megabytes; NoveltyCancelled if `should_abort` says so)."""
        ids = _checked_ids(train_ids, "training ids")
        return cls(ids, suffix_array(ids, should_abort))

    def __len__(self) -> int:
        return self._n

    @property
    def suffix_array(self) -> np.ndarray:
        """(n,) the positions of the training text in suffix order (read-only)."""
        return self._sa

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays."""
        return self._sa.nbytes + self._text.nbytes

    def matching_lengths(self, sample_ids: np.ndarray) -> np.ndarray:
        """(m,) int64: L[i] = length of the longest prefix of sample[i:] found in the text."""
        sample = _checked_ids(sample_ids, "sample ids")
        m = len(sample)
        if m == 0 or self._n == 0:
            return np.zeros(m, dtype=np.int64)
        pattern = np.empty(m + 1, dtype=np.int64)  # (m + 1,)
        pattern[:m] = sample
        pattern[m] = _SAMPLE_END

        # A bisection per sample position, all at once: sa[:lo] sorts before sample[i:],
        # sa[hi:] at or after it; lcp_lo / lcp_hi are the lcps with sa[lo - 1] / sa[hi]
        # (0 while that neighbour is the virtual end of the array).
        lo = np.zeros(m, dtype=np.int64)
        hi = np.full(m, self._n, dtype=np.int64)
        lcp_lo = np.zeros(m, dtype=np.int64)
        lcp_hi = np.zeros(m, dtype=np.int64)
        starts = np.arange(m, dtype=np.int64)
        while True:
            open_ = np.flatnonzero(lo < hi)
            if open_.size == 0:
                break
            mid = (lo[open_] + hi[open_]) >> 1
            known = np.minimum(lcp_lo[open_], lcp_hi[open_])  # every suffix between shares it
            lcp, before = self._compare(self._sa[mid], starts[open_], known, pattern)
            went_up, went_down = open_[before], open_[~before]
            lo[went_up] = mid[before] + 1
            lcp_lo[went_up] = lcp[before]
            hi[went_down] = mid[~before]
            lcp_hi[went_down] = lcp[~before]
        return np.maximum(lcp_lo, lcp_hi)

    def _compare(
        self, text_starts: np.ndarray, sample_starts: np.ndarray, known: np.ndarray, pattern
    ) -> tuple[np.ndarray, np.ndarray]:
        """(lcp, text suffix < sample suffix) for each pair, given that `known` ids agree."""
        k = len(text_starts)
        lcp = known.copy()  # (k,)
        before = np.zeros(k, dtype=bool)  # (k,)
        todo = np.arange(k)
        width = _FIRST_WINDOW
        n, m = self._n, len(pattern) - 1
        while todo.size:
            offsets = np.arange(width)
            reach = lcp[todo, None] + offsets  # (t, width)
            text = self._text[np.minimum(text_starts[todo, None] + reach, n)]
            sample = pattern[np.minimum(sample_starts[todo, None] + reach, m)]
            differ = text != sample  # (t, width)
            found = differ.any(axis=1)
            first = differ.argmax(axis=1)
            rows = np.flatnonzero(found)
            at = todo[rows]
            lcp[at] += first[rows]
            before[at] = text[rows, first[rows]] < sample[rows, first[rows]]
            # Every comparison ends by the sample's end marker, so the rest need wider windows.
            rest = todo[~found]
            lcp[rest] += width
            todo = rest
            # Wider windows for the long matches, within a bounded scratch size.
            width = max(width, min(2 * width, _WINDOW_BUDGET // max(todo.size, 1)))
        return lcp, before

    def novelty(self, sample_ids: np.ndarray, min_copy: int = DEFAULT_MIN_COPY) -> Novelty:
        """The longest copy in the sample and the share of it lying in copies of >= min_copy."""
        _check_min_copy(min_copy)
        return novelty_from_lengths(self.matching_lengths(sample_ids), min_copy)


def novelty_from_lengths(lengths: np.ndarray, min_copy: int = DEFAULT_MIN_COPY) -> Novelty:
    """A Novelty from matching lengths L (as NoveltyIndex.matching_lengths returns)."""
    _check_min_copy(min_copy)
    min_copy = int(min_copy)
    lengths = np.asarray(lengths, dtype=np.int64)  # (m,)
    m = len(lengths)
    if m == 0:
        return Novelty(0, 0, 0.0, min_copy, 0)
    start = int(np.argmax(lengths))
    # Position j is covered when some i <= j with L[i] >= min_copy reaches past it: j < i + L[i].
    ends = np.where(lengths >= min_copy, np.arange(m) + lengths, 0)  # (m,)
    covered = np.arange(m) < np.maximum.accumulate(ends)
    return Novelty(int(lengths[start]), start, float(covered.sum()) / m, min_copy, m)


# ---------------------------------------------------------------------------------------------
# helpers


def _checked_ids(ids: np.ndarray, what: str) -> np.ndarray:
    """`ids` as a 1-D integer array of non-negative values (ValueError otherwise)."""
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array, not shape {array.shape}")
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be integers, not {array.dtype}")
    if np.issubdtype(array.dtype, np.signedinteger) and int(array.min()) < 0:
        raise ValueError(f"{what} must be non-negative")
    if int(array.max()) >= 2**62:
        raise ValueError(f"{what} must be below 2**62")
    return array


def _check_min_copy(min_copy: int) -> None:
    if isinstance(min_copy, bool) or not isinstance(min_copy, (int, np.integer)) or min_copy < 1:
        raise ValueError(f"min_copy must be a positive integer, not {min_copy!r}")


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _visible(text: str) -> str:
    """The text on one line: newline as ⏎, tab as ⇥, other control characters escaped."""
    shown = text.replace("\n", "⏎").replace("\t", "⇥")
    if shown.isprintable():
        return shown
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, with '…' as the last one when it was cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…" if width > 0 else ""


def _percent(fraction: float) -> str:
    """A share as a whole percentage that never rounds to 0% or 100% when it is neither."""
    if fraction <= 0:
        return "0%"
    if fraction >= 1:
        return "100%"
    return f"{min(max(math.floor(100 * fraction + 0.5), 1), 99)}%"
