"""Runs that outlive the terminal: what serving a run costs, how fast attach draws, the bytes.

Measured in one go, on ../shared/corpora/kafka.txt with the classic model (the default):

1. training speed of `rnn-tui train --headless --steps N` (the baseline), of `--headless --serve`
   with no viewer, and with two `rnn-tui attach` dashboards drawing in 120x40 pseudo-terminals:
   steps per second between the first and last records of each run's metrics log (wall clock:
   everything the server and the viewers take from the trainer counts, and so does whatever
   else the machine runs), and steps per CPU-second of the training process itself (wait4's user
   + system time: what serving costs the run, robust to other load); the three kinds
   interleaved `--rounds` times so that a change in the machine's load hits them all; and with
   two socket readers that draw nothing ("two readers": the server's own cost, without two
   dashboards' drawing competing for the machine's two cores);
2. attach: seconds from starting `rnn-tui attach` to a full first screen (every panel's title
   and the run's step drawn), `--attaches` times;
3. bytes: on the socket per viewer (a RemoteRun counting what it receives) and to each
   attached dashboard's terminal, per second of training.

   The dashboards draw in 256 colours as bench_tui_bandwidth.py's do (`--truecolor` for 24-bit).
4. in this process, the server's own cost: one Trainer trained in short blocks that take turns
   (no server, served with no viewer, served to two readers in other processes), this process's
   CPU and wall time per 1,000 steps, medians (`--overhead-blocks`, `--block`);
5. the import floor: seconds for `python -c "import rnn_tui.tui.app"` (what any dashboard pays
   before it can draw), so that the attach time can be read as floor + attach's own part.

    python bench/bench_remote.py [--steps 30000] [--rounds 2] [--attaches 5] [--truecolor]
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(log: Path) -> float:
    """Steps per second between the first and the last record of a metrics log."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["step"] > 0]
    first, last = rows[0], rows[-1]
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


READER = """
import sys
from rnn_tui.engine.client import RemoteRun
RemoteRun(sys.argv[1]).run(lambda event: None, lambda: False)
"""


def train(
    work: Path, name: str, steps: int, serve: bool, viewers: int = 0, readers: int = 0
) -> dict:
    """One run of `steps` steps; with `viewers`, that many attached dashboards draw while it
    trains. Returns its steps per second (wall clock, from the metrics log), its steps per
    CPU-second (the training process's own user + system time, from wait4: what serving costs
    the run itself, whatever else the machine is doing) and each dashboard's terminal bytes."""
    run_dir = work / "runs" / name
    log = work / f"{name}.jsonl"
    args = ["train", str(CORPUS), "--headless", "--quiet", "--run-dir", str(run_dir)]
    args += ["--autosave-seconds", "0", "--log-jsonl", str(log), "--steps", str(steps)]
    if serve:
        args.append("--serve")
    run = subprocess.Popen(
        command(*args), cwd=work, env=environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    terminals: list[Terminal] = []
    result: dict = {}
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and log.stat().st_size):
            if time.monotonic() > deadline or run.poll() is not None:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.05)
        for _ in range(viewers):
            terminal = Terminal(command("attach", str(run_dir)), work)
            terminal.wait_until(lambda text: all(p in text for p in PANELS))
            terminals.append(terminal)
        reading = [
            subprocess.Popen([sys.executable, "-c", READER, str(run_dir)], cwd=work)
            for _ in range(readers)
        ]
        counted = [t.count() for t in terminals]
        viewer_cpu = [cpu_seconds(t.process.pid) for t in terminals]
        begun = time.monotonic()
        _, status, usage = os.wait4(run.pid, 0)
        spent = time.monotonic() - begun
        result["viewer_cpu_share"] = [
            (cpu_seconds(t.process.pid) - c) / spent
            for t, c in zip(terminals, viewer_cpu, strict=True)
        ]
        assert os.waitstatus_to_exitcode(status) == 0, f"{name} failed"
        result["steps_per_cpu_s"] = steps / (usage.ru_utime + usage.ru_stime)
        result["terminal_kb_s"] = [
            (t.count() - c) / spent / 1000 for t, c in zip(terminals, counted, strict=True)
        ]
        for reader in reading:
            reader.wait(30)  # they return when the run ends
    finally:
        for terminal in terminals:
            terminal.close()
        if run.returncode is None and run.poll() is None:
            run.kill()
    result["steps_per_s"] = rate(log)
    return result


def overhead(work: Path, block: int, blocks: int) -> dict[str, tuple[float, float]]:
    """In this process, blocks of `block` steps of one classic Trainer on kafka.txt, taking
    turns: run headless-style (no server), served with no viewer, served to two readers in other
    processes. Returns, per kind, the median (CPU seconds, wall seconds) per 1,000 steps of this
    process: what serving costs the run, measured in short interleaved blocks so that the
    machine's changing load falls on every kind alike."""
    from rnn_tui.engine import Config, RunPolicy, Trainer
    from rnn_tui.engine.control import LocalRun
    from rnn_tui.engine.server import ServedRun
    from rnn_tui.tui.background import SNAPSHOT_INTERVAL, BoundedRun

    run_dir = work / "runs" / "overhead"
    run_dir.mkdir(parents=True)
    trainer = Trainer(Config(), CORPUS.read_text(encoding="utf-8"), corpus_name="kafka")
    headless_policy = RunPolicy(autosave_seconds=0)  # what `train --headless` runs under
    served_policy = RunPolicy(autosave_seconds=0, snapshot_interval=SNAPSHOT_INTERVAL)
    readers: list[subprocess.Popen] = []
    results: dict[str, list[tuple[float, float]]] = {"headless": [], "served": [], "2 readers": []}

    def timed(control: LocalRun | ServedRun, kind: str, ready=None) -> None:
        target = trainer.step_count + block
        control_run = control

        def publish(event) -> None:
            if trainer.step_count >= target:
                trainer.stop()

        cpu, wall = time.process_time(), time.perf_counter()
        trainer._stop_requested.clear()
        control_run.run(publish, lambda: False)
        results[kind].append(
            (
                (time.process_time() - cpu) / block * 1e6,
                (time.perf_counter() - wall) / block * 1e6,
            )
        )

    try:
        for _ in range(blocks):
            timed(LocalRun(trainer, headless_policy), "headless")
            timed(ServedRun(BoundedRun(trainer, served_policy), run_dir), "served")
            served = ServedRun(BoundedRun(trainer, served_policy), run_dir)

            def start_readers(server) -> None:
                readers[:] = [
                    subprocess.Popen([sys.executable, "-c", READER, str(run_dir)], cwd=work)
                    for _ in range(2)
                ]
                deadline = time.monotonic() + 60
                while server.viewers < 2:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)

            served.on_serving = start_readers
            timed(served, "2 readers")
            for reader in readers:
                reader.wait(30)
    finally:
        for reader in readers:
            if reader.poll() is None:
                reader.kill()
    return {
        kind: (statistics.median(c for c, _ in rows), statistics.median(w for _, w in rows))
        for kind, rows in results.items()
    }


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
        watching = threading.Thread(
            target=viewer.run, args=(lambda e: None, stop.is_set), daemon=True
        )
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
    parser.add_argument("--steps", type=int, default=30_000, help="steps of each timed run")
    parser.add_argument("--seconds", type=float, default=30.0, help="of the socket measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--attaches", type=int, default=5)
    parser.add_argument("--truecolor", action="store_true")
    parser.add_argument(
        "--overhead-blocks", type=int, default=7, help="0: skip the in-process part"
    )
    parser.add_argument("--block", type=int, default=3000, help="steps per in-process block")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.overhead_blocks:
            costs = overhead(work, args.block, args.overhead_blocks)
            base_cpu, base_wall = costs["headless"]
            for kind, (cpu_ms, wall_ms) in costs.items():
                print(
                    f"in-process {kind:>9}: {cpu_ms:.0f} ms CPU, {wall_ms:.0f} ms wall per 1,000 "
                    f"steps ({base_cpu / cpu_ms:.3f}x, {base_wall / wall_ms:.3f}x headless)",
                    flush=True,
                )
        kinds = ("headless", "served", "two viewers", "two readers")
        speeds: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        terminal_rates: list[float] = []
        viewer_shares: list[float] = []
        for i in range(args.rounds):
            plan = ((False, 0, 0), (True, 0, 0), (True, 2, 0), (True, 0, 2))
            for kind, (serve, viewers, readers) in zip(kinds, plan, strict=True):
                measured = train(work, f"{kind[4]}{i}", args.steps, serve, viewers, readers)
                speeds[kind].append(measured["steps_per_s"])
                cpu[kind].append(measured["steps_per_cpu_s"])
                terminal_rates += measured["terminal_kb_s"]
                viewer_shares += measured.get("viewer_cpu_share", [])
            print(
                f"round {i + 1}: "
                + ", ".join(
                    f"{k} {speeds[k][-1]:.0f} steps/s ({cpu[k][-1]:.0f} per CPU-s)" for k in kinds
                )
                + f"; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        for kind in kinds[1:] if args.rounds else ():
            wall = statistics.mean(speeds[kind]) / statistics.mean(speeds["headless"])
            own = statistics.mean(cpu[kind]) / statistics.mean(cpu["headless"])
            print(f"{kind:>12}: {wall:.3f}x headless (wall clock), {own:.3f}x (per CPU-second)")
        if viewer_shares:
            print(
                "CPU of each attached dashboard while it draws: "
                + ", ".join(f"{share:.0%}" for share in viewer_shares)
                + " of a core"
            )
        if terminal_rates:
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
