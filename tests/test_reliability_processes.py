"""Whole-process reliability: kill -9 at random moments, SIGTERM / SIGHUP / Ctrl-C, a dropped terminal.

Each test runs the real `rnn-tui` in a subprocess on a tiny model (hidden 16, windows of 8) and a
generated 6,000-character text, so a process spends its time starting, loading, training and
saving rather than in big matrix products.

Nothing here depends on the machine's speed: a test waits for an event (a checkpoint written, a
metrics-log record of a trained step, a writer blocked inside a save by the test hook
`RNN_TUI_TEST_SAVE_GATE` of engine/checkpoint.py) before it acts, and the timeouts only turn a
hang into a failure.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import random
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from conftest import make_text

from rnn_tui.engine import Trainer, load_model, resume_trainer
from rnn_tui.engine.checkpoint import SAVE_GATE_ENV, read_meta

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ("--hidden-size", "16", "--seq-length", "8", "--sample-every", "0")
KILLS = 22
GATED = range(3, KILLS, 4)  # runs killed while the save-gate hook holds them inside a save
FINAL_STEPS = 1000  # the last, clean run: enough steps for the tiny model to learn, at any speed
HANG = 60  # seconds after which a wait is a failure (a hang), never a measurement
TEMP = re.compile(r"^\.(.+)\.(\d+)\.tmp$")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnn_tui", *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_TUI_")}
    return env


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(6000), encoding="utf-8")
    return path


def temporaries(folder: Path) -> list[tuple[str, int]]:
    """(name, pid) of every temporary file a checkpoint writer left in `folder`."""
    found = []
    for path in folder.iterdir() if folder.is_dir() else []:
        match = TEMP.match(path.name)
        if match:
            found.append((path.name, int(match.group(2))))
    return found


def checkpoints(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def logged_step(log: Path) -> int:
    """The step of the newest complete record of a metrics log (-1 before the first)."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):  # a line still being written
            continue
    return -1


def wait_for(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- kill -9 -----------------------------------------------------------------------------------


def test_kill_9_at_random_moments_loses_nothing_saved_and_resumes_where_it_left_off(
    tmp_path, corpus
):
    """22 SIGKILLs: half at any moment from start-up on, the others after the run's first save
    (those runs save after every step), five of them while the save-gate hook holds the writer
    between its complete temporary file and the rename. After each kill: every checkpoint in the
    run folder loads, the newest passes `resume_trainer` (probe-loss check included) and restores
    exactly the step and smoothed loss it recorded, the step count never goes backwards, at most
    the killed process's own temporary files are left, and never more than K checkpoints plus
    the best. The next process resumes from the newest checkpoint."""
    rng = random.Random(1234)
    text = corpus.read_text(encoding="utf-8")
    run = tmp_path / "run"
    latest = run / "latest.npz"
    log = tmp_path / "log.txt"
    last_step, mid_save_kills, saved_by_killed, resumed_runs = -1, 0, 0, 0
    older = 2  # latest-step<N> files: K - 1 once a save has pruned
    for i in range(KILLS):
        autosave = "0.001" if i % 2 else "0.05"  # 0.001: a save after every step
        env = environment()
        gate = tmp_path / f"gate{i}"
        if i in GATED:
            gate.mkdir()
            env[SAVE_GATE_ENV] = str(gate)
        if latest.exists():
            args = ("train", "--resume", str(latest))
            resumed_runs += 1
        else:
            args = ("train", str(corpus), *TINY)
        before = latest.stat().st_mtime_ns if latest.exists() else None
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                command(
                    *args,
                    "--headless",
                    "--quiet",
                    "--run-dir",
                    str(run),
                    "--autosave-seconds",
                    autosave,
                ),
                env=env,
                stdout=out,
                stderr=out,
            )
            if i in GATED:  # kill it inside its first save, its temporary file complete
                held = wait_for((gate / f"saving-{proc.pid}").exists, HANG)
                assert held, log.read_text()[-2000:]
            elif i == 0 or i % 2:
                # wait for this run's first save, then kill it while it trains and saves
                saved = wait_for(
                    lambda before=before: latest.exists() and latest.stat().st_mtime_ns != before,
                    HANG,
                )
                assert saved, log.read_text()[-2000:]
                time.sleep(rng.uniform(0.0, 0.4))
            else:  # any moment: start-up, loading, resuming, training or saving
                time.sleep(rng.uniform(0.05, 1.0))
            assert proc.poll() is None, f"run {i} ended by itself: {log.read_text()[-2000:]}"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(HANG) == -signal.SIGKILL

        saved_now = latest.exists() and latest.stat().st_mtime_ns != before
        leftovers = temporaries(run)
        if saved_now:  # a completed save removes the temporary files of dead processes
            assert all(pid == proc.pid for _, pid in leftovers), (i, leftovers)
        assert len(leftovers) <= 2 + 2 * (not saved_now), leftovers
        mid_save_kills += any(
            name.startswith(".latest.npz.") and pid == proc.pid for name, pid in leftovers
        )
        if i in GATED:  # killed between a complete temporary file and the rename
            assert not saved_now and (f".latest.npz.{proc.pid}.tmp", proc.pid) in leftovers
            load_model(run / f".latest.npz.{proc.pid}.tmp")
        found = checkpoints(run)
        steps = [p for p in found if re.fullmatch(r"latest-step\d+\.npz", p.name)]
        # K = 3 checkpoints (latest + 2 older) plus the best. A save links the latest it replaces
        # as -step<N> before writing and prunes after, so a kill inside it leaves one more than
        # the save found (and kills inside saves in a row add up until a save completes)
        assert len(steps) <= max(older, 2) + 1, [p.name for p in found]
        assert {p.name for p in found} - {p.name for p in steps} <= {
            "latest.npz",
            "latest-best.npz",
        }
        older = len(steps)
        for path in found:
            load_model(path)  # every file is complete: none half-written
        trainer = resume_trainer(latest, text)  # includes the probe-loss check
        meta = read_meta(latest)
        assert trainer.step_count == meta["step"] >= last_step
        assert trainer.smooth.value == meta["smooth_loss"]
        if saved_now:
            saved_by_killed += 1
            assert meta["step"] > last_step  # a resumed run went on from its checkpoint
        last_step = meta["step"]

    assert resumed_runs >= KILLS - 1
    # the first run and every odd one not held by the gate waited for a save before the kill
    assert saved_by_killed >= 1 + len([i for i in range(1, KILLS, 2) if i not in GATED])
    assert mid_save_kills >= len(GATED)  # (a random kill may land inside a save too)

    # A last clean run of FINAL_STEPS more steps cleans up after the killed ones, ends with K
    # files plus the best, and leaves a model that has learned, however fast the machine is.
    result = subprocess.run(
        command(
            "train",
            "--resume",
            str(latest),
            "--headless",
            "--quiet",
            "--steps",
            str(FINAL_STEPS),
            "--run-dir",
            str(run),
            "--autosave-seconds",
            "0",
        ),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr
    assert temporaries(run) == []
    assert read_meta(latest)["step"] == last_step + FINAL_STEPS
    names = sorted(p.name for p in checkpoints(run))
    assert len(names) <= 4 and "latest.npz" in names and "latest-best.npz" in names, names

    # The loss really continues: the resumed model is as good as its checkpoint says, far from
    # the ln(V) of an untrained model.
    trainer = resume_trainer(latest, text)
    assert trainer.smooth.value == read_meta(latest)["smooth_loss"]
    losses = [trainer.train_step() for _ in range(40)]
    assert sum(losses) / len(losses) < trainer.uniform_loss - 0.8
    assert trainer.smooth.value < trainer.uniform_loss - 0.8


# -- SIGTERM / SIGHUP / Ctrl-C, headless ----------------------------------------------------------


def start_headless(tmp_path: Path, corpus: Path, out) -> subprocess.Popen:
    """Headless training with autosave off: only the signal's save can write a checkpoint. Its
    metrics log (tmp_path / "m.jsonl") tells when it has trained."""
    return subprocess.Popen(
        command(
            "train",
            str(corpus),
            *TINY,
            "--headless",
            "--run-dir",
            str(tmp_path / "run"),
            "--autosave-seconds",
            "0",
            "--log-jsonl",
            str(tmp_path / "m.jsonl"),
        ),
        env=environment(),
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"]
)
def test_signal_to_headless_run_saves_a_checkpoint_and_exits_0(tmp_path, corpus, sig):
    stdout = tmp_path / "stdout.txt"
    with open(stdout, "w") as out:
        proc = start_headless(tmp_path, corpus, out)
        trained = wait_for(lambda: logged_step(tmp_path / "m.jsonl") >= 1, HANG)
        assert trained, stdout.read_text()
        step = logged_step(tmp_path / "m.jsonl")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 0, err
    assert err == ""
    latest = tmp_path / "run" / "latest.npz"
    trainer = resume_trainer(latest, corpus.read_text(encoding="utf-8"))
    assert trainer.step_count >= step >= 1
    printed = stdout.read_text()
    assert f"saved checkpoint {latest}" in printed and "resume with: rnn-tui --resume" in printed


def pty_process(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """Run `args` with a pseudo-terminal (120x40) as its controlling terminal; return it and the
    master side. Closing the master is what a dropped SSH link does: SIGHUP, then EIO on writes."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    return proc, master


class Screen:
    """Everything the process wrote to its terminal, read by a thread so it never blocks."""

    def __init__(self, master: int):
        self.master = master
        self.data = bytearray()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.data.extend(chunk)

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")


def test_dropped_terminal_during_headless_run_saves_and_exits_0(tmp_path, corpus):
    """The SSH link drops: the terminal hangs up (SIGHUP) and every later write fails with EIO."""
    log = tmp_path / "m.jsonl"
    proc, master = pty_process(
        command(
            "train",
            str(corpus),
            *TINY,
            "--headless",
            "--run-dir",
            "run",
            "--autosave-seconds",
            "0",
            "--log-jsonl",
            str(log),
        ),
        tmp_path,
        environment(),
    )
    screen = Screen(master)
    assert wait_for(lambda: logged_step(log) >= 1, HANG), screen.text()
    step = logged_step(log)
    os.close(master)
    assert proc.wait(HANG) == 0
    trainer = resume_trainer(tmp_path / "run" / "latest.npz", corpus.read_text(encoding="utf-8"))
    assert trainer.step_count >= step >= 1


# -- the dashboard in a pseudo-terminal -----------------------------------------------------------


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "hang-up"])
def test_dashboard_saves_a_checkpoint_and_exits_0_on_sigterm_sighup_and_hang_up(
    tmp_path, corpus, how
):
    env = environment()
    env.update(TERM="xterm-256color", COLORTERM="truecolor")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    log = tmp_path / "run" / "metrics.jsonl"  # the dashboard always logs into its run folder
    # save-exit: the behaviour under test (the default, detach, is tests/test_remote_processes.py's)
    args = (str(corpus), *TINY, "--run-dir", "run", "--autosave-seconds", "0")
    proc, master = pty_process(command(*args, "--on-hangup", "save-exit"), tmp_path, env)
    screen = Screen(master)
    try:
        started = wait_for(lambda: "\x1b[?1049h" in screen.text() and proc.poll() is None, HANG)
        assert started, f"the dashboard did not start: {screen.text()[-3000:]!r}"
        # the dashboard logs a record of the snapshot it shows: it has trained and drawn
        trained = wait_for(lambda: logged_step(log) >= 1 or proc.poll() is not None, HANG)
        assert trained and proc.poll() is None, screen.text()[-3000:]
        step = logged_step(log)
        if how == "hang-up":
            os.close(master)
        else:
            proc.send_signal(getattr(signal, how))
        status = proc.wait(HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
        if how != "hang-up":
            screen.thread.join(5)  # read what is left in the terminal after the process ended
            os.close(master)
    assert status == 0, screen.text()[-3000:]
    latest = tmp_path / "run" / "latest.npz"
    trainer = resume_trainer(latest, corpus.read_text(encoding="utf-8"))
    assert trainer.step_count >= step >= 1
    if how == "SIGTERM":  # (after SIGHUP the terminal is taken to be gone: nothing is drawn)
        assert "Resume with: rnn-tui --resume" in screen.text()


def test_uniform_loss_is_what_an_untrained_model_scores(corpus):
    """(The kill test's 'far from ln V' bound is meaningful: a fresh model scores about ln V.)"""
    from rnn_tui.engine import Config

    trainer = Trainer(Config(hidden_size=16, seq_length=8), corpus.read_text(encoding="utf-8"))
    losses = [trainer.train_step() for _ in range(5)]
    assert abs(sum(losses) / 5 - trainer.uniform_loss) < 0.2
    assert trainer.uniform_loss == pytest.approx(math.log(len(trainer.vocab)))
