"""Training throughput with the dashboard open vs headless: same config, same corpus, same length.

Alternates rounds: `trainer.run(...)` headless for `--seconds`, then the same in the real app under
`run_test()` (Textual renders every frame; only the terminal write is skipped), each on a fresh
trainer. Reports steps per wall-clock second of both and their ratio (median over rounds).

    python bench/bench_tui_throughput.py [--seconds 10] [--rounds 3] [--preset classic]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from rnn_tui.engine import Trainer, preset  # noqa: E402
from rnn_tui.tui.app import make_app  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "kafka.txt"


def headless(text: str, config, seconds: float) -> float:
    """Steps per second of a plain `run` with a publish that drops everything."""
    trainer = Trainer(config, text, corpus_name="kafka")
    started = time.perf_counter()
    trainer.run(lambda event: None, max_seconds=seconds)
    return trainer.step_count / (time.perf_counter() - started)


async def in_app(text: str, config, seconds: float, size: tuple[int, int]) -> tuple[float, float]:
    """Steps per second while the dashboard runs (from the first snapshot on screen), and the share
    of wall time the UI thread spent on the CPU (what it can take from training under the GIL)."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            config, text, corpus_name="kafka", checkpoint_path=Path(folder) / "latest.npz"
        )
        app = make_app(trainer)
        async with app.run_test(size=size) as pilot:
            while app.dashboard.snapshot is None:
                await pilot.pause(0.01)
            steps0, t0, cpu0 = trainer.step_count, time.perf_counter(), time.thread_time()
            await asyncio.sleep(seconds)  # the app runs as it would in a terminal, no pilot polling
            wall = time.perf_counter() - t0
            rate = (trainer.step_count - steps0) / wall
            ui_share = (time.thread_time() - cpu0) / wall
            await pilot.press("q")
            while app.return_value is None:
                await pilot.pause(0.05)
    return rate, ui_share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="classic")
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"missing corpus {CORPUS}", file=sys.stderr)
        return 2
    text = CORPUS.read_text(encoding="utf-8")
    config = preset(args.preset)
    rows = []
    for _ in range(args.rounds):
        alone = headless(text, config, args.seconds)
        shown, ui_share = asyncio.run(in_app(text, config, args.seconds, (args.cols, args.rows)))
        rows.append((alone, shown, ui_share))
        print(
            json.dumps(
                {
                    "headless_steps_per_s": round(alone, 1),
                    "dashboard_steps_per_s": round(shown, 1),
                    "ratio": round(shown / alone, 3),
                    "ui_cpu_share": round(ui_share, 3),
                }
            ),
            flush=True,
        )
    ratio = statistics.median(shown / alone for alone, shown, _ in rows)
    share = statistics.median(ui for _, _, ui in rows)
    print(
        json.dumps(
            {
                "preset": args.preset,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "median_ratio": round(ratio, 3),
                "median_ui_cpu_share": round(share, 3),
            }
        )
    )
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
