"""n-gram yardsticks: the baseline tables of tinyshakespeare and kafka, and the time and peak
memory of compute_baselines on ~1 MB and ~3 MB corpora.

    python bench/bench_baselines.py               # tables, then timings (a few minutes at most)
    python bench/bench_baselines.py --tables-only
    python bench/bench_baselines.py --timings-only

Tables: Vocab.from_text(text).encode(text), validation = the last 10% (engine.streams.split_ids
with val_fraction 0.1), nats per character, both discountings (modified KN is the one shipped).
Timings: each case runs in a fresh child process, started before the tables are computed,
whose peak RSS is read with resource.getrusage (ru_maxrss) and, on Linux, also as VmHWM from
/proc/self/status: Linux folds the forking parent's high-water mark into a child's ru_maxrss at
exec, so ru_maxrss is at least the parent's peak (printed too), while VmHWM is the child's own
address space only. The per-order times are the gaps between compute_baselines' on_order reports (order
n's time counts its n-grams, the continuation counts of order n-1 and scores the validation
split). As a machine-speed yardstick measured in the same child: one np.unique with inverse and
counts of as many random int64 as there are training characters.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

from benchlib import REPO, SHARED_CORPORA
from rnn_tui.engine.ngram import compute_baselines
from rnn_tui.engine.streams import split_ids
from rnn_tui.engine.vocab import Vocab

VAL_FRACTION = 0.1
THREE_MB = 3_000_000
BUDGET = {  # case -> (seconds, MB of peak RSS) from the issue
    "python": (15.0, 500.0),
    "shakespeare-3MB": (15.0, 500.0),
    "shakespeare": (5.0, 500.0),
}


def load_text(case: str) -> str:
    """The text of a named case."""
    if case == "python":
        from rnn_tui.corpora import load_corpus

        return load_corpus(None).text
    if case == "kafka":
        from rnn_tui.corpora.gutenberg import strip_gutenberg

        return strip_gutenberg((SHARED_CORPORA / "kafka.txt").read_text(encoding="utf-8"))
    shakespeare = (SHARED_CORPORA / "tinyshakespeare.txt").read_text(encoding="utf-8")
    if case == "shakespeare-3MB":
        return (shakespeare * math.ceil(THREE_MB / len(shakespeare)))[:THREE_MB]
    return shakespeare


def split(text: str) -> tuple[np.ndarray, np.ndarray, int]:
    vocab = Vocab.from_text(text)
    train, val = split_ids(vocab.encode(text), VAL_FRACTION)
    return train, val, len(vocab)


def child(case: str, order: int) -> None:
    """Time one compute_baselines in this (fresh) process and print a JSON line."""
    text = load_text(case)
    train, val, V = split(text)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    marks: list[float] = []
    start = time.perf_counter()
    baselines = compute_baselines(
        train, val, V, order, on_order=lambda n, loss: marks.append(time.perf_counter())
    )
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm = vm_hwm_mb()
    per_order = np.diff([start, *marks]).tolist()
    keys = np.random.default_rng(0).integers(0, 2**40, len(train))
    t0 = time.perf_counter()
    np.unique(keys, return_inverse=True, return_counts=True)
    unique_seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "case": case,
                "chars": len(text),
                "vocab": V,
                "seconds": total,
                "per_order": per_order,
                "peak_rss_mb": peak,
                "rss_before_mb": rss_before,
                "vm_hwm_mb": hwm,
                "unique_seconds": unique_seconds,
                "baselines": baselines.to_dict(),
            }
        )
    )


def vm_hwm_mb() -> float:
    """This process's own peak resident set (VmHWM), in MB; NaN where /proc is absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def tables(order: int) -> None:
    for case in ("shakespeare", "kafka"):
        text = load_text(case)
        train, val, V = split(text)
        results = {}
        for discounting in ("modified", "single"):
            start = time.perf_counter()
            results[discounting] = compute_baselines(train, val, V, order, discounting=discounting)
            results[discounting + "-seconds"] = time.perf_counter() - start
        print(
            f"\n{case}: {len(text):,} characters, V = {V}, "
            f"train {len(train):,} / validation {len(val):,}"
        )
        print("| model | modified KN (shipped) | plain interpolated KN |")
        print("|---|---:|---:|")
        m, s = results["modified"], results["single"]
        print(f"| uniform (ln V) | {m.uniform:.4f} | {s.uniform:.4f} |")
        print(f"| unigram | {m.unigram:.4f} | {s.unigram:.4f} |")
        for n in range(2, order + 1):
            print(f"| {n}-gram | {m.ngram[n]:.4f} | {s.ngram[n]:.4f} |")
        print(
            f"(orders 1..{order}: {results['modified-seconds']:.2f} s modified, "
            f"{results['single-seconds']:.2f} s plain)"
        )


def timings(order: int) -> None:
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ncompute_baselines(order={order}), one fresh child process per case")
    print(f"(the parent's own peak RSS when it starts them: {parent:.0f} MB)")
    print(
        "| case | chars | V | total s | per order s (1..n) | peak RSS MB (ru_maxrss) "
        "| VmHWM MB | before compute MB | np.unique s | total / unique | budget |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for case in ("shakespeare", "shakespeare-3MB", "python"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", case, "--order", str(order)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        seconds, megabytes = BUDGET[case]
        ok = r["seconds"] <= seconds and r["peak_rss_mb"] <= megabytes
        per_order = " / ".join(f"{t:.2f}" for t in r["per_order"])
        print(
            f"| {case} | {r['chars']:,} | {r['vocab']} | {r['seconds']:.2f} | {per_order} "
            f"| {r['peak_rss_mb']:.0f} | {r['vm_hwm_mb']:.0f} | {r['rss_before_mb']:.0f} "
            f"| {r['unique_seconds']:.2f} "
            f"| {r['seconds'] / r['unique_seconds']:.1f} "
            f"| {'within' if ok else 'OVER'} {seconds:.0f} s / {megabytes:.0f} MB |"
        )
        if case == "python":
            b = r["baselines"]
            row = " ".join(f"{n}:{v:.3f}" for n, v in b["ngram"].items())
            print(f"  (python corpus: uniform {b['uniform']:.3f} unigram {b['unigram']:.3f} {row})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--order", type=int, default=None)
    parser.add_argument("--tables-only", action="store_true")
    parser.add_argument("--timings-only", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.order or 5)
        return
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if not args.tables_only:
        timings(args.order or 5)  # first, while this parent process is still small
    if not args.timings_only:
        tables(args.order or 6)


if __name__ == "__main__":
    main()
