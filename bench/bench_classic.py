"""Benchmark: the engine's classic model (Trainer.step) against the plain per-sample reference.

Both train the video's configuration (vanilla RNN, batch 1, float64, hidden 100, seq 25, Adagrad
0.1, clip 5) on the same text in the same process. Repeats are interleaved (engine, reference,
engine, ...) so background load hits both alike; each side's median characters per second is
reported, with the ratio and the BLAS thread count.

    python bench/bench_classic.py [--corpus PATH] [--repeats 5] [--iterations 300]
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from benchlib import REPO as REPO_ROOT
from benchlib import reference_classic
from rnn_tui.engine import Config, Trainer

ref = reference_classic()

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpora" / "kafka.txt"


def blas_threads() -> str:
    """How many threads the BLAS behind NumPy uses (threadpoolctl if present, else ask OpenBLAS)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        pools = [
            f"{p.get('internal_api')}={p.get('num_threads')}"
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
        if pools:
            return ", ".join(pools)
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            libs = sorted(
                {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
            )
    except OSError:
        libs = []
    for lib in libs:
        handle = ctypes.CDLL(lib)
        for symbol in (
            "openblas_get_num_threads",
            "openblas_get_num_threads64_",
            "scipy_openblas_get_num_threads64_",
            "scipy_openblas_get_num_threads",
        ):
            fn = getattr(handle, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                return f"openblas={fn()} ({Path(lib).name})"
    env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    }
    return f"unknown (env {env or 'unset'})"


def time_engine(trainer: Trainer, iterations: int) -> float:
    """Characters per second of `iterations` Trainer.train_step() calls."""
    t0 = time.perf_counter()
    for _ in range(iterations):
        trainer.train_step()
    return iterations * trainer.chars_per_step / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="text file (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="interleaved repeats per side (default 5)"
    )
    parser.add_argument(
        "--iterations", type=int, default=300, help="training iterations per repeat (default 300)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads for both sides (default 1, what `rnn-tui` picks for this model)",
    )
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        parser.error(f"corpus {args.corpus} not found; pass --corpus PATH")

    text = args.corpus.read_text(encoding="utf-8")
    config = Config(val_fraction=0.0)  # the classic model, trained on the whole text
    trainer = Trainer(config, text)
    run = ref.ClassicRun(trainer.train_ids, len(trainer.vocab), seed=config.seed)
    assert config.batch_size == 1 and config.dtype == "float64"

    print(f"corpus      {args.corpus} ({len(text):,} chars, vocab {len(trainer.vocab)})")
    print(
        f"config      classic: rnn, B={config.batch_size}, {config.dtype}, hidden {config.hidden_size}, "
        f"seq {config.seq_length}, {config.optimizer} lr {config.learning_rate}"
    )
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads, user_api="blas")  # the same for engine and reference
    print(
        f"python      {platform.python_version()}, numpy {np.__version__}, BLAS threads: {blas_threads()}"
    )
    now = datetime.datetime.now().isoformat(timespec="seconds")
    print(f"machine     {platform.machine()}, {os.cpu_count()} CPUs; {now}")

    time_engine(trainer, 20)  # warm-up: caches, first allocations
    ref.chars_per_second(run, 5)
    engine_rates, reference_rates = [], []
    for r in range(args.repeats):
        engine_rates.append(time_engine(trainer, args.iterations))
        reference_rates.append(ref.chars_per_second(run, args.iterations))
        print(
            f"repeat {r + 1}/{args.repeats}: engine {engine_rates[-1]:>9,.0f} chars/s   "
            f"reference {reference_rates[-1]:>9,.0f} chars/s"
        )
    engine_rate = statistics.median(engine_rates)
    reference_rate = statistics.median(reference_rates)
    print(f"median over {args.repeats} x {args.iterations} iterations:")
    print(f"  engine     {engine_rate:>9,.0f} chars/s")
    print(f"  reference  {reference_rate:>9,.0f} chars/s")
    print(f"  ratio      {engine_rate / reference_rate:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
