"""Soak test: kill -9 a headless run again and again; measure how much training each kill loses.

Each round resumes from the newest checkpoint (the first starts fresh), trains with
`--autosave-seconds S`, and is killed with SIGKILL at a random moment 0.2 .. 0.2 + 3 S seconds
after it started. After each kill every checkpoint in the run folder must load, the newest must
pass `Trainer.from_checkpoint` (probe-loss check included) and its step must not go backwards.
The training lost to a kill is the time from the newest checkpoint's write (or the start of
training, if later) to the kill: it must stay below S + 0.5 s.

With `--writers N` every round starts N identical processes on the same run folder (a user
resuming the same run twice): exactly one may train, every other must be refused at once with
exit status 2 and a line naming the live process, and only the trainer is killed.

    python bench/soak_kill.py                          # 50 kills, autosave every 0.5 s
    python bench/soak_kill.py --kills 200 --autosave 2
    python bench/soak_kill.py --kills 30 --writers 2   # and a second writer every round
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rnn_tui.engine import load_model, resume_trainer
from rnn_tui.engine.checkpoint import read_meta

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMP = re.compile(r"^\.latest(-best)?\.npz\.(\d+)\.tmp$")


def corpus_text(chars: int = 20_000, seed: int = 3) -> str:
    words = ["the", "cat", "sat", "on", "a", "mat;", "and", "dog", "ran", "far", "away!", "\n"]
    rng = random.Random(seed)
    return " ".join(rng.choice(words) for _ in range(chars))[:chars]


def watch(proc: subprocess.Popen, training: list[float]) -> None:
    """Note when the run starts training (its first progress line), then drain its output."""
    for line in proc.stdout:
        if not training and line.startswith("step"):
            training.append(time.time())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--autosave", type=float, default=0.5, help="seconds between autosaves")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--writers", type=int, default=1, help="processes started per round")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_TUI_")}
    problems: list[str] = []
    lost: list[float] = []
    mid_save = 0
    refused = 0  # second writers turned away
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus = folder / "corpus.txt"
        text = corpus_text()
        corpus.write_text(text, encoding="utf-8")
        run = folder / "run"
        latest = run / "latest.npz"
        last_step = -1
        started = time.perf_counter()
        for i in range(args.kills):
            if latest.exists():
                what = ["--resume", str(latest)]
            else:
                what = [str(corpus), "--hidden-size", "32", "--seq-length", "16"]
            command = [sys.executable, "-m", "rnn_tui", "train", *what, "--headless"]
            command += ["--run-dir", str(run), "--autosave-seconds", str(args.autosave)]
            procs = [
                subprocess.Popen(
                    command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for _ in range(args.writers)
            ]
            trainings: list[list[float]] = [[] for _ in procs]  # when each printed its first step
            for proc, training in zip(procs, trainings, strict=True):
                threading.Thread(target=watch, args=(proc, training), daemon=True).start()
            time.sleep(rng.uniform(0.2, 0.2 + 3 * args.autosave))
            # on a busy machine a rival may still be starting: give the lock time to turn it away
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                sum(p.poll() is None for p in procs) > 1 or not any(trainings)
            ):
                time.sleep(0.05)
            running = [p for p in procs if p.poll() is None]
            for rival in (p for p in procs if p not in running):
                err = rival.stderr.read()
                if not (rival.returncode == 2 and "is in use by" in err):
                    problems.append(f"round {i}: a writer ended with {rival.returncode}: {err!r}")
                refused += 1
            if len(running) != 1:
                problems.append(f"round {i}: {len(running)} of {len(procs)} writers are training")
                for extra in running:
                    extra.kill()
                    extra.wait()
                continue
            proc = running[0]
            training = trainings[procs.index(proc)]
            proc.send_signal(signal.SIGKILL)
            killed_at = time.time()
            proc.wait()
            leftovers = (
                [p.name for p in run.iterdir() if TEMP.match(p.name)] if run.exists() else []
            )
            mid_save += any(
                n.startswith(".latest.npz.") and n.endswith(f".{proc.pid}.tmp") for n in leftovers
            )
            if not latest.exists():
                continue
            try:
                for path in run.glob("*.npz"):
                    load_model(path)
                trainer = resume_trainer(latest, text)
            except Exception as exc:  # anything at all is a finding here
                problems.append(f"round {i}: {type(exc).__name__}: {exc}")
                continue
            meta = read_meta(latest)
            if trainer.step_count != meta["step"] or meta["step"] < last_step:
                problems.append(f"round {i}: step {meta['step']} after {last_step}")
            last_step = meta["step"]
            # work lost: training this process did after its last save (0 if it never trained)
            if training:
                lost.append(max(0.0, killed_at - max(latest.stat().st_mtime, training[0])))
        elapsed = time.perf_counter() - started
    over = [x for x in lost if x > args.autosave + 0.5]
    print(
        f"{args.kills} kills in {elapsed:.0f} s, autosave every {args.autosave:g} s; "
        f"{mid_save} landed while a checkpoint was being written; final step {last_step:,}"
        + (f"; {refused} second writers refused" if args.writers > 1 else "")
    )
    if lost:
        print(
            f"training lost per kill (kill time - the later of the newest checkpoint and the "
            f"start of training): median {sorted(lost)[len(lost) // 2]:.2f} s, max {max(lost):.2f} s"
        )
    problems += [f"{len(over)} kills lost more than autosave + 0.5 s"] if over else []
    for line in problems[:20]:
        print("PROBLEM: " + line)
    if problems:
        return 1
    print(
        "OK: every checkpoint loaded after every kill, the step never went backwards, and no "
        "kill lost more than the autosave interval + 0.5 s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
