"""Benchmark: how long the built-in `python` corpus takes to load (5 repeats).

Run from the repository root: python bench/bench_builtin_corpus.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpora import load_corpus

REPEATS = 5


def main() -> None:
    """Load the built-in corpus REPEATS times and print each load time and the best."""
    times = []
    for i in range(REPEATS):
        start = time.perf_counter()
        corpus = load_corpus()
        times.append(time.perf_counter() - start)
        print(f"load {i + 1}: {times[-1] * 1000:7.1f} ms")
    print(
        f"{corpus.name}: {corpus.num_chars:,} characters from {corpus.size_bytes:,} bytes, "
        f"{corpus.num_distinct} distinct, sha256 {corpus.sha256[:16]}"
    )
    print(f"best {min(times) * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
