"""Bytes the dashboard writes to a real (pseudo-)terminal while training, and pause latency.

Starts the app in a 120x40 pty (TERM=xterm-256color) on ../shared/corpora/kafka.txt with the
classic model, counts the bytes it writes during `--seconds` of training, then presses space a few
times and times how long until "PAUSED" reaches the terminal, and finally quits with `q`, checking
that a checkpoint was written. `--sighup` instead closes the terminal after the measurement and
checks that the app saved a checkpoint and exited.

    python bench/bench_tui_bandwidth.py [--seconds 30] [--cols 120 --rows 40] [--truecolor]
    python bench/bench_tui_bandwidth.py --without-yardsticks   # no baselines, novelty or
                                                               # gradient panel: the old screen
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpora" / "kafka.txt"

CHILD = """
import sys
from pathlib import Path
from rnn_tui.engine import Config, Trainer
from rnn_tui.tui import dashboard
from rnn_tui.tui.app import DEFAULT_YARDSTICKS, make_app
text = Path(sys.argv[1]).read_text(encoding="utf-8")
trainer = Trainer(Config(), text, corpus_name="kafka", checkpoint_path=Path(sys.argv[2]))
without = sys.argv[3] == "without-yardsticks"
if without:
    dashboard.GRADIENTS_FROM = (10**6, 10**6)  # the gradient panel stays off
app = make_app(
    trainer, corpus_lines=["kafka.txt"], yardsticks=None if without else DEFAULT_YARDSTICKS
)
message = app.run()
print("\\nRESULT", message, flush=True)
"""


def _controlling_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty (so hang-ups arrive)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A child process on a pty; everything it writes is counted (and kept for searching)."""

    def __init__(self, cols: int, rows: int, env: dict[str, str], argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=REPO,
            preexec_fn=_controlling_terminal,
        )
        os.close(slave)
        self.total = 0
        self.tail = b""

    def read(self, seconds: float, until: bytes | None = None) -> float | None:
        """Read for up to `seconds`; with `until`, stop when it appears and return when it did."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return None
            if not chunk:
                return None
            self.total += len(chunk)
            self.tail = (self.tail + chunk)[-200_000:]
            if until is not None and until in self.tail:
                found = time.monotonic()
                self.tail = b""
                return found
        return None

    def press(self, key: bytes) -> float:
        """Type a key; returns when."""
        self.tail = b""
        os.write(self.master, key)
        return time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--truecolor", action="store_true", help="also set COLORTERM=truecolor")
    parser.add_argument("--sighup", action="store_true", help="close the terminal instead of q")
    parser.add_argument("--pauses", type=int, default=5)
    parser.add_argument(
        "--without-yardsticks",
        action="store_true",
        help="no baseline lines, novelty or gradient panel (the screen before they came)",
    )
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"missing corpus {CORPUS}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="rnn-tui-bench-"))
    checkpoint = workdir / "latest.npz"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLORTERM", "TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(args.cols), LINES=str(args.rows))
    if args.truecolor:
        env["COLORTERM"] = "truecolor"
    term = Terminal(
        args.cols,
        args.rows,
        env,
        [
            sys.executable,
            "-c",
            CHILD,
            str(CORPUS),
            str(checkpoint),
            "without-yardsticks" if args.without_yardsticks else "with-yardsticks",
        ],
    )
    started = time.monotonic()
    if term.read(30, until=b"RUNNING") is None:
        print("the app did not start", file=sys.stderr)
        term.process.kill()
        return 1
    startup = time.monotonic() - started
    term.read(2.0)  # let the first plot, heatmap and sample arrive
    before = term.total
    t0 = time.monotonic()
    term.read(args.seconds)
    measured = time.monotonic() - t0
    rate = (term.total - before) / measured
    result: dict[str, object] = {
        "terminal": f"{args.cols}x{args.rows}",
        "colours": "truecolor" if args.truecolor else "256",
        "startup_s": round(startup, 2),
        "seconds": round(measured, 1),
        "bytes": term.total - before,
        "bytes_per_s": round(rate),
        "yardsticks": not args.without_yardsticks,
    }
    if args.sighup:
        os.close(term.master)
        try:
            code = term.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            term.process.kill()
            code = "timeout"
        result.update(sighup_exit=code, checkpoint_saved=checkpoint.exists())
    else:
        latencies = []
        for _ in range(args.pauses):
            pressed = term.press(b" ")
            shown = term.read(5, until=b"PAUSED")
            latencies.append(round(shown - pressed, 3) if shown else None)
            term.press(b" ")
            term.read(5, until=b"RUNNING")
            term.read(0.5)
        result["pause_latency_s"] = latencies
        term.press(b"q")
        term.read(30, until=b"RESULT")
        term.read(1.0)
        try:
            code = term.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            term.process.kill()
            code = "timeout"
        result.update(quit_exit=code, checkpoint_saved=checkpoint.exists())
        os.close(term.master)
    print(json.dumps(result))
    ok = rate <= 15_000 and result["checkpoint_saved"]  # the SSH budget: ~15 KB/s at 120x40
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
