"""Runs that outlive the terminal: what serving a run costs, how fast attach draws, the bytes.

Measured in one go, on ../shared/corpora/kafka.txt with the classic model (the default):

1. training speed of `rnn-tui train --headless` (the baseline), of `--headless --serve` with no
   viewer, and with two `rnn-tui attach` dashboards drawing in 120x40 pseudo-terminals: steps
   per second between the first and last records of each run's metrics log (wall clock, so
   everything the server and the viewers take from the trainer counts), the three kinds
   interleaved `--rounds` times so that a change in the machine's load hits them all;
2. attach: seconds from starting `rnn-tui attach` to a full first screen (every panel's title
   and the run's step drawn), `--attaches` times;
3. bytes: on the socket per viewer (a RemoteRun counting what it receives) and to each
   attached dashboard's terminal, per second of training.

   The dashboards draw in 256 colours as bench_tui_bandwidth.py's do (`--truecolor` for 24-bit).
4. the import floor: seconds for `python -c "import rnn_tui.tui.app"` (what any dashboard pays
   before it can draw), so that the attach time can be read as floor + attach's own part.

    python bench/bench_remote.py [--seconds 30] [--rounds 2] [--attaches 5] [--truecolor]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from benchlib import SHARED_CORPORA
from rnn_tui.engine.client import RemoteRun

CORPUS = SHARED_CORPORA / "kafka.txt"
PANELS = ("Status", "Loss per char", "Sample", "Hidden state", "Hyperparameters")


TRUECOLOR = "--truecolor" in sys.argv


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNN_TUI_", "TEXTUAL"))}
    env.pop("COLORTERM", None)
    env.update(TERM="xterm-256color")  # 256 colours, as bench_tui_bandwidth.py measures
    if TRUECOLOR:
        env["COLORTERM"] = "truecolor"
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnn_tui", *args]


class Terminal:
    """A process on a cols x rows pseudo-terminal; its output counted and kept."""

    def __init__(self, argv: list[str], cwd: Path, cols: int = 120, rows: int = 40) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=environment(), stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.data = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if not ready:
                if self.process.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data.extend(chunk)

    def count(self) -> int:
        with self.lock:
            return len(self.data)

    def text(self) -> str:
        with self.lock:
            return bytes(self.data).decode("utf-8", "replace")

    def wait_until(self, predicate, timeout: float = 60.0) -> float:
        """Seconds from the start until `predicate(text)` held."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text()):
                return time.monotonic() - self.started
            time.sleep(0.005)
        raise TimeoutError(self.text()[-2000:])

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        os.close(self.master)


def rate(log: Path) -> float:
    """Steps per second between the first and the last record of a metrics log."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["step"] > 0]
    first, last = rows[0], rows[-1]
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


def train(work: Path, name: str, seconds: float, serve: bool, viewers: int = 0) -> dict:
    """One timed run; with `viewers`, that many attached dashboards draw while it trains."""
    run_dir = work / "runs" / name
    log = work / f"{name}.jsonl"
    args = ["train", str(CORPUS), "--headless", "--quiet", "--run-dir", str(run_dir)]
    args += ["--autosave-seconds", "0", "--log-jsonl", str(log)]
    if serve:
        args.append("--serve")
    run = subprocess.Popen(
        command(*args), cwd=work, env=environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    terminals: list[Terminal] = []
    result: dict = {}
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and log.stat().st_size):
            if time.monotonic() > deadline or run.poll() is not None:
                raise RuntimeError(run.stderr.read().decode() if run.poll() is not None else name)
            time.sleep(0.05)
        for _ in range(viewers):
            terminal = Terminal(command("attach", str(run_dir)), work)
            terminal.wait_until(lambda text: all(p in text for p in PANELS))
            terminals.append(terminal)
        counted = [t.count() for t in terminals]
        begun = time.monotonic()
        time.sleep(seconds)
        spent = time.monotonic() - begun
        result["terminal_kb_s"] = [
            (t.count() - c) / spent / 1000 for t, c in zip(terminals, counted, strict=True)
        ]
    finally:
        for terminal in terminals:
            terminal.type(b"d")  # leave the run training
            terminal.process.wait(30)
            terminal.close()
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    result["steps_per_s"] = rate(log)
    return result


def socket_bytes(work: Path, seconds: float) -> float:
    """Bytes per second a viewer receives on the socket while the run trains."""
    run_dir = work / "runs" / "socket"
    run = subprocess.Popen(
        command("train", str(CORPUS), "--headless", "--serve", "--quiet", "--run-dir",
                str(run_dir), "--autosave-seconds", "0"),
        cwd=work, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / ".rnn-tui.sock").exists():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        viewer = RemoteRun(run_dir)
        stop = threading.Event()
        watching = threading.Thread(target=viewer.run, args=(lambda e: None, stop.is_set))
        watching.start()
        time.sleep(2.0)  # past the hello
        before, begun = viewer.bytes_received, time.monotonic()
        time.sleep(seconds)
        received = (viewer.bytes_received - before) / (time.monotonic() - begun)
        stop.set()
        watching.join(10)
        return received
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)


def attach_times(work: Path, count: int) -> list[float]:
    """Seconds from `rnn-tui attach` to a full first screen, `count` times."""
    run_dir = work / "runs" / "attach"
    run = subprocess.Popen(
        command("train", str(CORPUS), "--headless", "--serve", "--quiet", "--run-dir",
                str(run_dir), "--autosave-seconds", "0"),
        cwd=work, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    times = []
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / ".rnn-tui.sock").exists():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        time.sleep(3)  # a few samples and curve points to draw
        for _ in range(count):
            terminal = Terminal(command("attach", str(run_dir)), work)
            try:
                times.append(
                    terminal.wait_until(
                        lambda text: all(p in text for p in PANELS) and "step " in text
                    )
                )
                terminal.type(b"d")
                terminal.process.wait(30)
            finally:
                terminal.close()
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--attaches", type=int, default=5)
    parser.add_argument("--truecolor", action="store_true")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        speeds: dict[str, list[float]] = {"headless": [], "served": [], "two viewers": []}
        terminal_rates: list[float] = []
        for i in range(args.rounds):
            speeds["headless"].append(train(work, f"h{i}", args.seconds, False)["steps_per_s"])
            speeds["served"].append(train(work, f"s{i}", args.seconds, True)["steps_per_s"])
            two = train(work, f"v{i}", args.seconds, True, viewers=2)
            speeds["two viewers"].append(two["steps_per_s"])
            terminal_rates += two["terminal_kb_s"]
            print(
                f"round {i + 1}: "
                + ", ".join(f"{k} {v[-1]:.0f} steps/s" for k, v in speeds.items())
                + f"; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        base = statistics.mean(speeds["headless"])
        for kind in ("served", "two viewers"):
            print(f"{kind:>12}: {statistics.mean(speeds[kind]) / base:.3f}x headless")
        print(
            "terminal of each attached dashboard (120x40): "
            + ", ".join(f"{r:.1f}" for r in terminal_rates)
            + f" KB/s (max {max(terminal_rates):.1f})"
        )
        print(f"socket, per viewer: {socket_bytes(work, args.seconds) / 1000:.1f} KB/s")
        times = attach_times(work, args.attaches)
        floor = []
        for _ in range(args.attaches):
            begun = time.monotonic()
            subprocess.run([sys.executable, "-c", "import rnn_tui.tui.app"], check=True)
            floor.append(time.monotonic() - begun)
        print(
            f"import floor (python -c 'import rnn_tui.tui.app'): median {statistics.median(floor):.2f} s"
        )
        print(
            "attach to a full first screen: "
            + ", ".join(f"{t:.2f}" for t in times)
            + f" s (median {statistics.median(times):.2f})"
        )
        print(f"done; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
