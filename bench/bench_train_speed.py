"""Training speed of the preset candidates of docs/presets.md, with two BLAS threads and one.

    python bench/bench_train_speed.py              # 10 s per candidate and thread count
    python bench/bench_train_speed.py --seconds 5

Each candidate is the `lstm` preset with a few changes; after 3 warm-up steps `Trainer.train_step`
runs for the given wall-clock seconds. Prints characters and steps per second of wall clock and
the process's CPU time per wall second (2.0: both threads busy), with the load average: run it
on a quiet machine, since other processes change every number.
"""

from __future__ import annotations

import argparse
import os
import time

from threadpoolctl import threadpool_limits

from benchlib import SHARED_CORPORA
from rnn_tui.engine import Trainer, preset
from rnn_tui.engine.allocator import retain_freed_memory

CANDIDATES = [
    ("LSTM 2x256, batch 16 x 64", {}),
    ("LSTM 2x256, batch 32 x 64", dict(batch_size=32)),
    ("GRU 2x256, batch 16 x 64", dict(cell="gru")),
    ("GRU 2x256, batch 32 x 64", dict(cell="gru", batch_size=32)),
    ("GRU 1x256, batch 32 x 64", dict(cell="gru", num_layers=1, batch_size=32)),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    retain_freed_memory()
    text = (SHARED_CORPORA / "tinyshakespeare.txt").read_text(encoding="utf-8")
    base = preset("lstm").replace(val_every=0, sample_every=0)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} load average {os.getloadavg()[0]:.2f}")
    for threads in (2, 1):
        for name, changes in CANDIDATES:
            trainer = Trainer(base.replace(**changes), text)
            with threadpool_limits(limits=threads, user_api="blas"):
                for _ in range(3):
                    trainer.train_step()
                wall0, cpu0, steps = time.perf_counter(), time.process_time(), 0
                while time.perf_counter() - wall0 < args.seconds:
                    trainer.train_step()
                    steps += 1
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            chars = steps * trainer.chars_per_step
            print(
                f"{name:26s} threads {threads}: {chars / wall / 1000:5.1f}k chars/s, "
                f"{steps / wall:5.1f} steps/s, CPU/wall {cpu / wall:.2f}, "
                f"load {os.getloadavg()[0]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
