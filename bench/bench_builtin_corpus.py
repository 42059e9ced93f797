"""Benchmark: how long the built-in `python` corpus takes to load (5 repeats).

Run from the repository root: python bench/bench_builtin_corpus.py
"""

from __future__ import annotations

import time

from rnn_tui.corpora import load_corpus

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
