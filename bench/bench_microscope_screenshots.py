"""Regenerates docs/neuron.svg and docs/finder.svg: the microscope on a trained checkpoint.

Opens the neuron view as `rnn-tui inspect CHECKPOINT` does (the checkpoint's validation text,
warmed on the text before it), runs the cell finder, saves its table, takes the top row
into the neuron view (`--row` picks another), moves the cursor a little, and saves that.

    python bench/bench_microscope_screenshots.py CHECKPOINT [--row 0] [--size 100x30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from benchlib import REPO
from rnn_tui.engine import load_model
from rnn_tui.tui.screens.finder import FinderScreen
from rnn_tui.tui.screens.host import MicroscopeApp
from rnn_tui.tui.screens.neuron import NeuronScreen
from rnn_tui.tui.screens.subject import Passage, ProbeSubject
from rnn_tui.tui.subcommands.inspect import corpus_passage


async def until(pilot, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app never got there")
        await pilot.pause(0.05)
    await pilot.pause()


async def shoot(subject: ProbeSubject, size: tuple[int, int], row: int, out: Path) -> str:
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: screen.trace is not None)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FinderScreen) and app.screen.done)
        chosen = app.screen.matches[row]
        app.save_screenshot("finder.svg", path=str(out))
        for _ in range(row):
            await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        for _ in range(12):
            await pilot.press("right")
        await pilot.pause(0.2)
        app.save_screenshot("neuron.svg", path=str(out))
        await pilot.press("escape")
    return f"{chosen}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--row", type=int, default=0, help="the finder row to show (0: the top)")
    parser.add_argument("--size", default="100x30")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.split("x"))
    saved = load_model(args.checkpoint)
    text, warmup, name = corpus_passage(saved)
    subject = ProbeSubject(
        saved.model,
        saved.params,
        saved.vocab,
        int(saved.meta.get("step", 0)),
        Passage(text, name, warmup),
        seed=saved.config.seed,
    )
    chosen = asyncio.run(shoot(subject, (cols, rows), args.row, args.out))
    print(f"{args.out / 'finder.svg'} and {args.out / 'neuron.svg'} (the view on {chosen})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
