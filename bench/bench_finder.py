"""Speed of the microscope's engine: tracing a passage (the neuron view) and the cell finder.

    python bench/bench_finder.py [--repeats 5] [--threads 0]

1. The trace of 2,000 characters of tinyshakespeare's validation text for every preset (classic,
   small, lstm, gru; freshly initialised, weights do not matter for speed), cold (zero state)
   and after a 1,000-character warm-up: best and median of `repeats` runs, against the 0.5 s
   budget for opening the neuron view, and against the baseline of the same passage fed
   character by character through `CharModel.step` (the sampler's path) in the same run.
2. The finder on 20,000 validation characters for the lstm preset (2 x 256; h and c: 1,024
   signals x every registered feature): trace time (keeping h and c only) and correlation time
   separately, against the 10 s budget, with the memory the trace holds.

BLAS threads: `--threads 0` (default) leaves OpenBLAS as it is; `--threads N` limits it.
The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from contextlib import nullcontext

import numpy as np
from threadpoolctl import threadpool_limits

from benchlib import SHARED_CORPORA
from rnn_tui.engine import CharModel, Vocab, preset
from rnn_tui.engine.features import FEATURES
from rnn_tui.engine.finder import find_cells
from rnn_tui.engine.probe import trace
from rnn_tui.engine.streams import split_ids

PRESETS = ("classic", "small", "lstm", "gru")
VIEW_CHARS, WARMUP_CHARS, FINDER_CHARS = 2_000, 1_000, 20_000
VIEW_BUDGET_S, FINDER_BUDGET_S = 0.5, 10.0


def timings(fn, repeats: int) -> tuple[float, float]:
    """(best, median) seconds of `repeats` calls after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def stepwise(model: CharModel, params: dict, ids: np.ndarray) -> None:
    """The baseline: one model.step per character, keeping every layer's state."""
    state = model.initial_state(1)
    kept = np.empty((ids.size, *state.shape))
    for t, i in enumerate(ids):
        _, state = model.step(params, np.array([i]), state)
        kept[t] = state


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (0: as is)")
    args = parser.parse_args()

    text = (SHARED_CORPORA / "tinyshakespeare.txt").read_text(encoding="utf-8")
    vocab = Vocab.from_text(text)
    _, val_ids = split_ids(vocab.encode(text).astype(np.intp), 0.1)
    warm = val_ids[:WARMUP_CHARS]
    view = val_ids[WARMUP_CHARS : WARMUP_CHARS + VIEW_CHARS]
    passage = val_ids[:FINDER_CHARS]
    passage_text = vocab.decode(passage)
    print(f"tinyshakespeare validation text, V = {len(vocab)}; {load()}")
    limit = threadpool_limits(args.threads) if args.threads else nullcontext()
    with limit:
        print(f"BLAS threads: {args.threads or 'default'}; best / median of {args.repeats} runs")
        print(f"\n1. trace of {VIEW_CHARS:,} characters (budget {VIEW_BUDGET_S} s)")
        print(
            f"{'preset':8} {'cold best':>10} {'median':>8} {'warm best':>10} {'median':>8}"
            f" {'step loop':>10} {'speed-up':>9}"
        )
        for name in PRESETS:
            model = CharModel(preset(name), len(vocab))
            params = model.init_params(np.random.default_rng(0))
            cold = timings(lambda m=model, p=params: trace(m, p, view), args.repeats)
            warmed = timings(
                lambda m=model, p=params: trace(m, p, view, warmup_ids=warm), args.repeats
            )
            base = timings(
                lambda m=model, p=params: stepwise(m, p, view), max(1, args.repeats // 2)
            )
            verdict = "ok" if max(cold[1], warmed[1]) <= VIEW_BUDGET_S else "OVER BUDGET"
            print(
                f"{name:8} {cold[0]:9.3f}s {cold[1]:7.3f}s {warmed[0]:9.3f}s {warmed[1]:7.3f}s"
                f" {base[0]:9.3f}s {base[0] / cold[0]:8.1f}x  {verdict}"
            )

        print(
            f"\n2. finder on {FINDER_CHARS:,} characters, lstm preset, h and c x "
            f"{len(FEATURES)} features (budget {FINDER_BUDGET_S} s)"
        )
        model = CharModel(preset("lstm"), len(vocab))
        params = model.init_params(np.random.default_rng(0))
        results = []
        for _ in range(max(1, args.repeats // 2)):
            t0 = time.perf_counter()
            tr = trace(model, params, passage, keep=("h", "c"))
            t1 = time.perf_counter()
            matches = find_cells(tr, passage_text)
            t2 = time.perf_counter()
            results.append((t1 - t0, t2 - t1))
        held = sum(a.nbytes for a in tr.signals.values()) + tr.probs.nbytes
        for trace_s, find_s in results:
            total = trace_s + find_s
            verdict = "ok" if total <= FINDER_BUDGET_S else "OVER BUDGET"
            print(
                f"trace {trace_s:6.2f}s   correlations {find_s:6.3f}s   total {total:6.2f}s"
                f"  {verdict}"
            )
        print(f"{len(matches):,} matches; the trace holds {held / 2**20:.0f} MiB")
        print(f"strongest (untrained weights): {matches[0]}")
    print(load())


if __name__ == "__main__":
    main()
