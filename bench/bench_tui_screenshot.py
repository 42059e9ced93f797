"""Regenerates docs/dashboard.svg: the dashboard at 120x40 after a few thousand steps on kafka.txt.

The classic model is trained headless first (so the sample shows words), then the real app runs
for a few seconds and saves a screenshot while training, once the n-gram baselines are on the
chart and the sample's novelty is measured. The text is kafka.txt as `rnn-tui kafka.txt` reads
it: the Project Gutenberg licence stripped.

    python bench/bench_tui_screenshot.py [--steps 3000] [--seconds 5] [--out docs/dashboard.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from rnn_tui.corpora import load_corpus  # noqa: E402
from rnn_tui.engine import Config, Trainer  # noqa: E402
from rnn_tui.tui.app import make_app  # noqa: E402
from rnn_tui.tui.widgets import LossPlot  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "kafka.txt"


async def screenshot(trainer: Trainer, seconds: float, out: Path) -> None:
    """Run the dashboard for `seconds`, then save an SVG screenshot of it."""
    with tempfile.TemporaryDirectory():
        app = make_app(
            trainer, corpus_lines=["kafka.txt: Metamorphosis, Franz Kafka (Project Gutenberg)"]
        )
        async with app.run_test(size=(120, 40)) as pilot:
            started = time.monotonic()
            screen = app.dashboard
            while time.monotonic() - started < seconds or not (
                screen.query_one(LossPlot).yardsticks and screen.measured is not None
            ):
                await pilot.pause(0.1)
            app.save_screenshot(out.name, path=str(out.parent))
            await pilot.press("q")
            while app.return_value is None:
                await pilot.pause(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.svg")
    args = parser.parse_args()
    text = load_corpus(CORPUS).text  # the licence stripped, as the command line does
    folder = tempfile.mkdtemp()
    trainer = Trainer(
        Config(), text, corpus_name="kafka", checkpoint_path=Path(folder) / "latest.npz"
    )
    for _ in range(args.steps):
        trainer.train_step()
        if trainer.step_count % trainer.config.sample_every == 0:
            trainer.periodic_sample()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(screenshot(trainer, args.seconds, args.out))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
