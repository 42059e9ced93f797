"""The yardsticks in the front end: where baseline tables are cached (beside the corpus cache),
the options a run's background workers get, and the baseline table and verdicts as text, for
`rnn-tui baselines`, the headless run and the dashboard.

The engine never imports rnn_tui.corpora, so the cache folder is decided here and passed in.
"""

from __future__ import annotations

import math
from pathlib import Path

from rnn_tui.engine.metrics import nats_to_bits
from rnn_tui.engine.ngram import METHOD, Baselines
from rnn_tui.engine.yardsticks import DEFAULT_ORDER, MAX_ORDER, YardstickOptions

__all__ = [
    "DEFAULT_ORDER",
    "MAX_ORDER",
    "baseline_table",
    "baselines_cache_dir",
    "stands",
    "yardstick_options",
]


def baselines_cache_dir() -> Path:
    """`baselines/` beside the corpus cache (`$RNN_TUI_CACHE_DIR/baselines` or the user cache)."""
    from rnn_tui.corpora.catalogue import cache_dir

    return cache_dir().parent / "baselines"


def yardstick_options(order: int = DEFAULT_ORDER) -> YardstickOptions:
    """What a run started from the command line computes: baselines up to `order` (0: none),
    cached beside the corpus cache, and the novelty of its samples."""
    return YardstickOptions(cache_dir=baselines_cache_dir(), order=order)


def baseline_table(baselines: Baselines, loss: float | None = None) -> list[str]:
    """The table as aligned lines: model, nats/char, bits/char, perplexity (and, given `loss`,
    a mark on the rows it beats)."""
    lines = [f"  {'model':<8} {'nats/char':>9} {'bits/char':>9} {'perplexity':>10}"]
    for label, nats in baselines.yardsticks():
        mark = ""
        if loss is not None and math.isfinite(loss):
            mark = "  beaten" if loss < nats else ""
        lines.append(
            f"  {label:<8} {nats:>9.3f} {nats_to_bits(nats):>9.3f} {math.exp(nats):>10.2f}{mark}"
        )
    lines.append(f"  ({METHOD})")
    return lines


def stands(baselines: Baselines | None, loss: float | None, width: int = 80) -> str:
    """Where `loss` stands, cut to `width`: 'beats 3-gram (1.98), not 4-gram (1.72)', then
    'beats 3-gram (1.98), not 4-gram', then 'beats 3-gram (1.98)'; '' when unknown."""
    if baselines is None or loss is None or not math.isfinite(loss):
        return ""
    full = baselines.describe(loss)
    if len(full) <= width:
        return full
    head, _, tail = full.partition(", not ")
    if tail:
        shorter = f"{head}, not {tail.split(' (')[0]}"
        if len(shorter) <= width:
            return shorter
    return head if len(head) <= width else head[: max(width - 1, 0)] + "…"
