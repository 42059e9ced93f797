"""The microscope in the real UI: the cell finder's time and its share of training speed, the
time to open the neuron view per preset, and the bytes one cursor move sends to a terminal.

    python bench/bench_microscope.py [finder] [share] [open] [bytes] [--rounds 3]

1. finder: the cell finder on 20,000 characters of tinyshakespeare's validation text for the lstm
   preset (2×256; h and c: 1,024 signals × every feature), engine only (trace + find_cells, as
   bench/bench_finder.py) and end to end in the UI (Enter on `f` until the table is filled).
2. share: training chars/s of the lstm preset in the dashboard (headless Pilot at 120×40, same
   process, same run), measured while the finder runs in its worker and over equal windows
   without it, before and after; the ratio is the finder's cost to training.
3. open: pressing `i` on the dashboard (in a real pseudo-terminal) until the neuron view's
   frame with its 2,000 traced characters reaches the terminal, for every preset, with
   training paused and running (a copy waits for the step in progress), against the 0.5 s
   budget; and the view as `rnn-tui inspect` opens it (from the screen's creation to its first
   frame with the passage, headless).
4. bytes: `rnn-tui inspect CHECKPOINT` in a real pseudo-terminal (120×40 and 80×24,
   TERM=xterm-256color): bytes written per cursor move (→), against the bytes of a unit change
   (↓: every visible row recoloured) measured in the same run, and bytes per second while →
   and ↓ are held (30 repeats a second for 2 s).

The machine is shared: the load average is printed before and after each part.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_tui_bandwidth import Terminal  # the pty reader of the bandwidth benchmark
from threadpoolctl import threadpool_limits

from benchlib import SHARED_CORPORA
from rnn_tui.corpora import load_corpus
from rnn_tui.engine import Trainer, Vocab, preset
from rnn_tui.engine.finder import find_cells
from rnn_tui.engine.probe import trace
from rnn_tui.engine.streams import split_ids
from rnn_tui.tui.app import make_app
from rnn_tui.tui.launch import blas_threads
from rnn_tui.tui.screens.finder import FinderScreen
from rnn_tui.tui.screens.host import MicroscopeApp
from rnn_tui.tui.screens.neuron import NeuronScreen
from rnn_tui.tui.screens.passage_view import PassageView
from rnn_tui.tui.screens.subject import ProbeSubject

SHAKESPEARE = SHARED_CORPORA / "tinyshakespeare.txt"
PRESETS = ("classic", "small", "lstm", "gru")
FINDER_CHARS, OPEN_BUDGET_S, FINDER_BUDGET_S = 20_000, 0.5, 10.0
SIZE = (120, 40)
THREADS: int | None = None  # --threads; None: rnn-tui's own choice for each preset


def blas(name: str):
    """The BLAS thread limit rnn-tui trains this preset with (or --threads)."""
    return threadpool_limits(limits=blas_threads(preset(name), THREADS), user_api="blas")


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def shakespeare() -> str:
    return load_corpus(str(SHAKESPEARE)).text


async def until(pilot, condition, timeout: float = 120.0, step: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app never got there")
        await pilot.pause(step)


# -- 1. the finder ------------------------------------------------------------------------------


def finder_engine(text: str, rounds: int) -> list[float]:
    vocab = Vocab.from_text(text)
    _, val = split_ids(vocab.encode(text).astype(np.intp), 0.1)
    passage = val[:FINDER_CHARS]
    words = vocab.decode(passage)
    model = Trainer(preset("lstm"), text).model
    params = model.init_params(np.random.default_rng(0))
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        find_cells(trace(model, params, passage, keep=("h", "c")), words)
        times.append(time.perf_counter() - t0)
    return times


async def finder_ui(text: str, rounds: int) -> list[float]:
    trainer = Trainer(preset("lstm"), text)
    subject = ProbeSubject.from_weights(trainer.weights_copy())
    screen = NeuronScreen(subject)
    app = MicroscopeApp(screen)
    times = []
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: screen.trace is not None)
        for _ in range(rounds):
            screen.finder_cache.clear()
            t0 = time.perf_counter()
            await pilot.press("f")
            await until(pilot, lambda: isinstance(app.screen, FinderScreen) and app.screen.done)
            times.append(time.perf_counter() - t0)
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
    return times


def part_finder(rounds: int) -> None:
    text = shakespeare()
    print(f"\n1. finder on {FINDER_CHARS:,} validation characters, lstm preset ({load()})")
    with blas("lstm"):
        engine = finder_engine(text, rounds)
        ui = asyncio.run(finder_ui(text, rounds))
    for name, times in (("engine (trace + find_cells)", engine), ("UI (f until the table)", ui)):
        verdict = "ok" if statistics.median(times) <= FINDER_BUDGET_S else "OVER BUDGET"
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"   {name:28} median {statistics.median(times):5.2f} s  [{shown}]  {verdict}")
    print(f"   ({load()})")


# -- 2. the finder's share of training speed ------------------------------------------------------


async def share(text: str, rounds: int) -> list[tuple[float, float, float, float]]:
    """Per round: chars/s without the finder (before), while it runs, without (after), and how
    long it ran."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            preset("lstm"), text, corpus_name="shakespeare", checkpoint_path=Path(folder) / "l.npz"
        )
        app = make_app(trainer, autosave_seconds=0)
        chars = trainer.chars_per_step
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: trainer.step_count > 5, step=0.05)

            async def rate_over(seconds: float) -> float:
                s0, t0 = trainer.step_count, time.perf_counter()
                await asyncio.sleep(seconds)
                return (trainer.step_count - s0) * chars / (time.perf_counter() - t0)

            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, NeuronScreen), step=0.05)
            view = app.screen
            await until(pilot, lambda: view.trace is not None, step=0.05)
            for _ in range(rounds):
                await pilot.press("w")  # a fresh copy: the finder's cache is per copy
                await until(pilot, lambda: view.weights_tag is None and not view.finder_cache)
                await asyncio.sleep(1.0)
                s0, t0 = trainer.step_count, time.perf_counter()
                await pilot.press("f")
                await until(pilot, lambda: isinstance(app.screen, FinderScreen), step=0.01)
                finder = app.screen
                await until(pilot, lambda f=finder: f.done, step=0.05)
                ran = time.perf_counter() - t0
                during = (trainer.step_count - s0) * chars / ran
                await pilot.press("escape")
                await until(pilot, lambda: app.screen is view, step=0.05)
                after = await rate_over(ran)
                before = await rate_over(ran)  # (the next round's "before" too)
                results.append((before, during, after, ran))
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.dashboard, step=0.05)
            await pilot.press("q")
            await until(pilot, lambda: app.return_value is not None, step=0.05)
    return results


def part_share(rounds: int) -> None:
    print(f"\n2. training speed of the lstm preset while the finder runs ({load()})")
    with blas("lstm"):
        rows = asyncio.run(share(shakespeare(), rounds))
    for before, during, after, ran in rows:
        base = (before + after) / 2
        print(
            f"   finder {ran:5.2f} s: training {during:7,.0f} chars/s during vs {base:7,.0f} "
            f"without (after {after:,.0f}, then {before:,.0f}): {during / base:.2f}x"
        )
    ratios = [d / ((b + a) / 2) for b, d, a, _ in rows]
    print(f"   median ratio {statistics.median(ratios):.2f}x  ({load()})")


# -- 3. opening the neuron view -------------------------------------------------------------------


DASHBOARD_CHILD = """
import sys
from pathlib import Path
from threadpoolctl import threadpool_limits
from rnn_tui.corpora import load_corpus
from rnn_tui.engine import Trainer, preset
from rnn_tui.tui.app import make_app
from rnn_tui.tui.launch import blas_threads
corpus, name, folder, state, threads = sys.argv[1:6]
config = preset(name)
trainer = Trainer(config, load_corpus(corpus).text, checkpoint_path=Path(folder) / "latest.npz")
with threadpool_limits(limits=int(threads) or blas_threads(config, None), user_api="blas"):
    make_app(trainer, start_paused=state == "paused", autosave_seconds=0).run()
"""


def read_until_any(term: Terminal, markers: tuple[bytes, ...], seconds: float) -> float | None:
    """Read until any of the markers has been written (when), keeping what was read in tail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        term.read(0.01)
        if any(marker in term.tail for marker in markers):
            return time.monotonic()
    return None


def open_from_dashboard(name: str, paused: bool, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds from pressing i in the dashboard (a real pty, 120x40) until the neuron view's
    first frame with the passage reaches the terminal (its first FIRST_CHARS characters; the
    status line says so), and until the whole passage is traced and shown."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLORTERM", "TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    first, whole = [], []
    with tempfile.TemporaryDirectory() as folder:
        state = "paused" if paused else "running"
        argv = [sys.executable, "-c", DASHBOARD_CHILD, str(SHAKESPEARE), name, folder, state]
        term = Terminal(*SIZE, env, [*argv, str(THREADS or 0)])
        term.read(60, until=b"PAUSED" if paused else b"RUNNING")
        term.read(2.0)
        for _ in range(rounds):
            pressed = term.press(b"i")
            # a fast model's whole trace can land in the same frame as its first part
            shown = read_until_any(term, (b"showing the first", b"traced "), 30)
            done = shown if b"traced " in term.tail else term.read(30, until=b"traced ")
            first.append(shown - pressed if shown else float("inf"))
            whole.append(done - pressed if done else float("inf"))
            term.press(b"\x1b")  # esc: back to the dashboard
            term.read(1.5)
        term.press(b"q")
        term.read(30, until=b"Saved")
        try:
            term.process.wait(timeout=30)
        except Exception:
            term.process.kill()
        os.close(term.master)
    return first, whole


async def open_standalone(text: str, name: str, rounds: int) -> tuple[list[float], list[float]]:
    """The view as `rnn-tui inspect` opens it: a model at hand, 2,000 characters warmed on 500;
    from the screen's creation to its first frame with the passage, and to the whole of it."""
    trainer = Trainer(preset(name), text)
    subject = ProbeSubject.from_weights(trainer.weights_copy())
    first, whole = [], []
    for _ in range(rounds):
        screen = NeuronScreen(subject)
        app = MicroscopeApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            view = screen.query_one(PassageView)
            await until(
                pilot, lambda s=screen, v=view: s.traced_at is not None and v.lines_rendered
            )
            first.append(screen.ready_at - screen.opened_at)  # (applied; painted in the next frame)
            whole.append(screen.traced_at - screen.opened_at)
    return first, whole


def part_open(rounds: int) -> None:
    text = shakespeare()
    print(f"\n3. opening the neuron view on 2,000 characters (budget {OPEN_BUDGET_S} s; {load()})")
    print("   first frame with the passage (its first 600 characters) / the whole passage shown;")
    print(f"   medians of {rounds}; inspect: headless, the rest: i in the dashboard in a pty")
    print(f"   {'preset':8} {'inspect':>15} {'i, paused':>15} {'i, running':>15}")
    for name in PRESETS:
        with blas(name):
            alone = asyncio.run(open_standalone(text, name, rounds))
        paused = open_from_dashboard(name, True, rounds)
        running = open_from_dashboard(name, False, rounds)
        cells = [
            f"{statistics.median(a):.2f} / {statistics.median(b):.2f}s"
            for a, b in (alone, paused, running)
        ]
        worst = max(statistics.median(a) for a, _ in (alone, paused, running))
        verdict = "ok" if worst <= OPEN_BUDGET_S else "OVER BUDGET"
        print(f"   {name:8} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15}  first frame {verdict}")
    print(f"   ({load()})")


# -- 4. bytes per cursor move ---------------------------------------------------------------------


def checkpoint(folder: Path) -> Path:
    """A briefly trained lstm-preset checkpoint of tinyshakespeare (what a user would inspect)."""
    corpus = shakespeare()
    trainer = Trainer(preset("lstm"), corpus, corpus_name=str(SHAKESPEARE))
    for _ in range(30):
        trainer.train_step()
    return trainer.save(folder / "lstm.npz")


HELD_REPEATS_PER_S = 30  # a terminal's key repeat while an arrow is held
HELD_SECONDS = 2.0


def held(term: Terminal, key: bytes) -> float:
    """Bytes per second while `key` repeats HELD_REPEATS_PER_S times a second for HELD_SECONDS
    (and until the last repaint has arrived)."""
    before, started = term.total, time.perf_counter()
    for _ in range(int(HELD_SECONDS * HELD_REPEATS_PER_S)):
        term.press(key)
        term.read(1 / HELD_REPEATS_PER_S)
    term.read(0.3)
    return (term.total - before) / (time.perf_counter() - started)


def bytes_per_key(
    path: Path, cols: int, rows: int, presses: int
) -> tuple[float, float, float, float, float]:
    """Median bytes after one →, after one ↓ (a unit change), at start-up, and bytes per
    second while → and while ↓ are held."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLORTERM", "TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    argv = [sys.executable, "-m", "rnn_tui", "inspect", str(path)]
    term = Terminal(cols, rows, env, argv)
    term.read(30, until=b"traced")
    term.read(1.5)
    startup = term.total
    moves, units = [], []
    for i in range(presses):
        before = term.total
        term.press(b"\x1b[C")  # →
        term.read(0.25)
        moves.append(term.total - before)
        if i % 5 == 4:
            before = term.total
            term.press(b"\x1b[B")  # ↓
            term.read(0.4)
            units.append(term.total - before)
    held_right, held_down = held(term, b"\x1b[C"), held(term, b"\x1b[B")
    term.press(b"\x1b")  # esc closes the view and the app
    term.read(3)
    try:
        term.process.wait(timeout=10)
    except Exception:
        term.process.kill()
    os.close(term.master)
    return statistics.median(moves), statistics.median(units), startup, held_right, held_down


def part_bytes(presses: int) -> None:
    print(f"\n4. bytes to the terminal per key in the neuron view ({load()})")
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint(Path(folder))
        for cols, rows in ((120, 40), (80, 24)):
            move, unit, startup, right, down = bytes_per_key(path, cols, rows, presses)
            print(
                f"   {cols}x{rows}: cursor move {move:,.0f} B, unit change {unit:,.0f} B "
                f"(move / unit change {move / unit:.2f}); first paint {startup:,.0f} B; "
                f"held at {HELD_REPEATS_PER_S}/s: → {right / 1000:.1f} KB/s, "
                f"↓ {down / 1000:.1f} KB/s"
            )
    print(f"   ({load()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["finder", "share", "open", "bytes"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument(
        "--threads", type=int, default=0, help="BLAS threads (0: what rnn-tui picks per preset)"
    )
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads or None
    if not SHAKESPEARE.is_file():
        print(f"missing corpus {SHAKESPEARE}", file=sys.stderr)
        return 2
    print(time.strftime("%Y-%m-%d %H:%M"), load(), f"cores {os.cpu_count()}")
    if "finder" in args.parts:
        part_finder(args.rounds)
    if "share" in args.parts:
        part_share(args.rounds)
    if "open" in args.parts:
        part_open(args.rounds)
    if "bytes" in args.parts:
        part_bytes(args.presses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
