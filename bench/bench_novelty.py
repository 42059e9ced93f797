"""Novelty check: time and peak memory of NoveltyIndex.build on ~1 MB and ~3 MB texts, and the
time to answer one 500-character sample against them.

    python bench/bench_novelty.py                # every case (about a minute)
    python bench/bench_novelty.py --no-baseline  # skip the slow str.find cross-check

Targets (the yardsticks issue, part 4): build <= 10 s for 3 MB, <= 50 ms per 500-character
sample. Cases: tinyshakespeare (1.1 MB); tinyshakespeare repeated to 3 MB, the worst case for
prefix doubling (every suffix of the first copies recurs hundreds of thousands of characters
later, so the build needs all its rounds); the built-in python corpus (load_corpus(None), ~3 MB).

Each case runs in a fresh child process, whose peak RSS is read with resource.getrusage
(ru_maxrss) and, on Linux, as VmHWM from /proc/self/status (ru_maxrss of a child includes the
forking parent's peak on Linux, VmHWM is the child's own). Machine-speed yardstick measured in
the same child: one np.sort of as many random int64 as there are training characters.

Samples, 50 of each kind, 500 ids: `random` (uniform over the vocabulary: short matches),
`spliced` (pieces of 3 to 40 characters cut from random places of the training text: many real
copies, as an overfitting network writes), `copied` (one 500-character passage of the
training text: the longest possible matches). Baseline for the samples: the same matching
lengths from str.find on the training string (with L[i+1] >= L[i] - 1), for two samples of
each kind, which also cross-checks the index at full size.
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
from rnn_tui.engine.novelty import NoveltyIndex
from rnn_tui.engine.vocab import Vocab

THREE_MB = 3_000_000
SAMPLE_LENGTH = 500
SAMPLES_PER_KIND = 50
BASELINE_SAMPLES = 2
BUILD_BUDGET = {"shakespeare": 10.0, "shakespeare-3MB": 10.0, "python": 10.0}  # seconds
SAMPLE_BUDGET_MS = 50.0
CASES = ("shakespeare", "shakespeare-3MB", "python")
KINDS = ("random", "spliced", "copied")


def load_text(case: str) -> str:
    """The text of a named case."""
    if case == "python":
        from rnn_tui.corpora import load_corpus

        return load_corpus(None).text
    shakespeare = (SHARED_CORPORA / "tinyshakespeare.txt").read_text(encoding="utf-8")
    if case == "shakespeare-3MB":
        return (shakespeare * math.ceil(THREE_MB / len(shakespeare)))[:THREE_MB]
    return shakespeare


def make_samples(ids: np.ndarray, vocab_size: int, kind: str, count: int, seed: int) -> list:
    """`count` samples of SAMPLE_LENGTH ids of one kind (see the module docstring)."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        if kind == "random":
            samples.append(rng.integers(0, vocab_size, SAMPLE_LENGTH).astype(ids.dtype))
        elif kind == "copied":
            at = int(rng.integers(0, len(ids) - SAMPLE_LENGTH))
            samples.append(ids[at : at + SAMPLE_LENGTH].copy())
        else:
            pieces, size = [], 0
            while size < SAMPLE_LENGTH:
                length = int(rng.integers(3, 41))
                at = int(rng.integers(0, len(ids) - length))
                pieces.append(ids[at : at + length])
                size += length
            samples.append(np.concatenate(pieces)[:SAMPLE_LENGTH])
    return samples


def find_matching_lengths(text: str, sample: str) -> list[int]:
    """The baseline: L[i] by str.find, growing from L[i-1] - 1 (a known-present prefix)."""
    lengths, length = [], 0
    for i in range(len(sample)):
        length = max(length - 1, 0)
        while i + length < len(sample) and text.find(sample[i : i + length + 1]) >= 0:
            length += 1
        lengths.append(length)
    return lengths


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


def child(case: str, baseline: bool) -> None:
    """Build one index and time samples against it in this (fresh) process; print JSON."""
    text = load_text(case)
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    polls: list[float] = []

    def count_rounds() -> bool:
        polls.append(time.perf_counter())
        return False

    start = time.perf_counter()
    index = NoveltyIndex.build(ids, should_abort=count_rounds)
    build = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm = vm_hwm_mb()
    first_sort = (polls[0] if polls else start + build) - start

    keys = np.random.default_rng(0).integers(0, 2**40, len(ids))
    t0 = time.perf_counter()
    keys.sort()
    sort_seconds = time.perf_counter() - t0

    kinds = {}
    for seed, kind in enumerate(KINDS):
        samples = make_samples(ids, len(vocab), kind, SAMPLES_PER_KIND, seed)
        index.novelty(samples[0])  # warm-up
        times, longest, fraction = [], [], []
        for sample in samples:
            t0 = time.perf_counter()
            result = index.novelty(sample)
            times.append(time.perf_counter() - t0)
            longest.append(result.longest_copy)
            fraction.append(result.copied_fraction)
        entry = {
            "median_ms": 1e3 * float(np.median(times)),
            "max_ms": 1e3 * float(np.max(times)),
            "median_longest": float(np.median(longest)),
            "median_fraction": float(np.median(fraction)),
        }
        if baseline:
            base_times, agree = [], True
            for sample in samples[:BASELINE_SAMPLES]:
                t0 = time.perf_counter()
                expected = find_matching_lengths(text, vocab.decode(sample))
                base_times.append(time.perf_counter() - t0)
                agree &= index.matching_lengths(sample).tolist() == expected
            entry["baseline_ms"] = 1e3 * float(np.median(base_times))
            entry["baseline_agrees"] = bool(agree)
        kinds[kind] = entry

    print(
        json.dumps(
            {
                "case": case,
                "chars": len(text),
                "vocab": len(vocab),
                "build_seconds": build,
                "first_sort_seconds": first_sort,
                "rounds": len(polls),
                "peak_rss_mb": peak,
                "rss_before_mb": rss_before,
                "vm_hwm_mb": hwm,
                "index_mb": index.nbytes / 2**20,
                "sort_seconds": sort_seconds,
                "kinds": kinds,
            }
        )
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-baseline", action="store_true", help="skip the str.find baseline")
    args = parser.parse_args()
    if args.child:
        child(args.child, not args.no_baseline)
        return
    print("load at start:", uptime())
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(the parent's own peak RSS when it starts the children: {parent:.0f} MB)")
    results = []
    for case in CASES:
        command = [sys.executable, __file__, "--child", case]
        if args.no_baseline:
            command.append("--no-baseline")
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print("\nNoveltyIndex.build, one fresh child process per case")
    print(
        "| case | chars | V | build s | first sort s | rounds | peak RSS MB (ru_maxrss) "
        "| VmHWM MB | before build MB | index MB | np.sort s | build / sort | target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        budget = BUILD_BUDGET[r["case"]]
        verdict = "within" if r["build_seconds"] <= budget else "OVER"
        print(
            f"| {r['case']} | {r['chars']:,} | {r['vocab']} | {r['build_seconds']:.2f} "
            f"| {r['first_sort_seconds']:.2f} | {r['rounds']} | {r['peak_rss_mb']:.0f} "
            f"| {r['vm_hwm_mb']:.0f} | {r['rss_before_mb']:.0f} | {r['index_mb']:.1f} "
            f"| {r['sort_seconds']:.2f} | {r['build_seconds'] / r['sort_seconds']:.1f} "
            f"| {verdict} {budget:.0f} s |"
        )

    print(f"\nNoveltyIndex.novelty of one {SAMPLE_LENGTH}-id sample, {SAMPLES_PER_KIND} per kind")
    print(
        "| case | kind | median ms | max ms | median longest | median copied "
        "| str.find ms | str.find / index | agrees | target |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        for kind, k in r["kinds"].items():
            verdict = "within" if k["median_ms"] <= SAMPLE_BUDGET_MS else "OVER"
            if "baseline_ms" in k:
                base = f"{k['baseline_ms']:.0f} | {k['baseline_ms'] / k['median_ms']:.0f}x"
                agrees = "yes" if k["baseline_agrees"] else "NO"
            else:
                base, agrees = "- | -", "-"
            print(
                f"| {r['case']} | {kind} | {k['median_ms']:.1f} | {k['max_ms']:.1f} "
                f"| {k['median_longest']:.0f} | {100 * k['median_fraction']:.0f}% | {base} "
                f"| {agrees} | {verdict} {SAMPLE_BUDGET_MS:.0f} ms |"
            )
    print("\nload at end:", uptime())


if __name__ == "__main__":
    main()
