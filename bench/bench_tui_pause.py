"""Pause latency: from the space key to training stopped, and to "PAUSED" on the status line.

Runs the real app under `run_test()` on kafka.txt with the classic model, presses space at random
moments, and times (a) until the training thread has stopped stepping (`trainer.run_state` is
"paused") and (b) until the status line shows PAUSED. For comparison, (c) the same pause() to
"paused" with no dashboard at all, which is bounded by the longest thing the training thread does
between two checks (a validation pass, a periodic sample). The pty benchmark
(bench_tui_bandwidth.py) measures the same end to end, including the terminal.

    python bench/bench_tui_pause.py [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from textual import events  # noqa: E402

from rnn_tui.engine import Config, Trainer  # noqa: E402
from rnn_tui.tui.app import make_app  # noqa: E402
from rnn_tui.tui.widgets.status import StatusLine  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "kafka.txt"


def summary(values: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum, in seconds."""
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
    }


def headless(text: str, trials: int, rng: random.Random) -> list[float]:
    """pause() to status 'paused' with nothing but the training thread."""
    trainer = Trainer(Config(), text)
    thread = threading.Thread(target=trainer.run, args=(lambda event: None,), daemon=True)
    thread.start()
    latencies = []
    for _ in range(trials):
        time.sleep(rng.uniform(0.3, 1.0))
        pressed = time.perf_counter()
        trainer.pause()
        while trainer.run_state != "paused":
            time.sleep(0.0005)
        latencies.append(time.perf_counter() - pressed)
        trainer.resume()
    trainer.stop()
    thread.join()
    return latencies


async def in_app(text: str, trials: int, rng: random.Random) -> tuple[list[float], list[float]]:
    """Key press to training stopped, and to PAUSED drawn on the status line."""
    stopped, shown = [], []
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            Config(), text, corpus_name="kafka", checkpoint_path=Path(folder) / "latest.npz"
        )
        app = make_app(trainer)
        async with app.run_test(size=(120, 40)) as pilot:
            line = app.dashboard.query_one("#status-state", StatusLine)
            while app.dashboard.snapshot is None:
                await pilot.pause(0.01)
            for _ in range(trials):
                await pilot.pause(rng.uniform(0.3, 1.0))
                pressed = time.perf_counter()
                app.post_message(events.Key("space", " "))  # as the driver does: no pilot waits
                took = None
                while "PAUSED" not in str(line.render()):
                    if took is None and trainer.run_state == "paused":
                        took = time.perf_counter() - pressed
                    await pilot.pause(0.002)
                shown.append(time.perf_counter() - pressed)
                stopped.append(took if took is not None else shown[-1])
                app.post_message(events.Key("space", " "))
                while trainer.run_state == "paused":
                    await pilot.pause(0.01)
            await pilot.press("q")
            while app.return_value is None:
                await pilot.pause(0.05)
    return stopped, shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"missing corpus {CORPUS}", file=sys.stderr)
        return 2
    text = CORPUS.read_text(encoding="utf-8")
    rng = random.Random(0)
    stopped, shown = asyncio.run(in_app(text, args.trials, rng))
    alone = headless(text, args.trials, rng)
    print(
        json.dumps(
            {
                "trials": args.trials,
                "key_to_training_stopped_s": summary(stopped),
                "key_to_paused_on_screen_s": summary(shown),
                "headless_pause_to_stopped_s": summary(alone),
            }
        )
    )
    return 0 if summary(shown)["p90"] <= 0.2 else 1


if __name__ == "__main__":
    sys.exit(main())
