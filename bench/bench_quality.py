"""Quality for time: train a preset for N minutes of training, then report the validation loss
per character over the whole validation text.

    python bench/bench_quality.py                          # lstm preset, 5 minutes, tinyshakespeare
    python bench/bench_quality.py --preset classic --minutes 5
    python bench/bench_quality.py --preset lstm --set seq_length=50 --set learning_rate=0.003
    python bench/bench_quality.py --preset lstm --cpu-seconds 300 --threads 1   # load-robust
    python bench/bench_quality.py --preset lstm --cpu-seconds 900 --open-ended --eval-at 300,600

The budget is the run's, as `rnn-tui train --minutes` gives it: a cosine schedule without a fixed
step count decays over it (engine/schedule.py). `--minutes` counts training time on the wall
clock (what a user waits for, and what the load of a shared machine eats into); `--cpu-seconds`
counts this process's CPU time instead (`time.process_time()`, the schedule follows the same
clock), so candidates measured at different loads compare at equal work; with one BLAS thread
(`--threads 1`) that is close to exact. `--max-chars` is a budget of training characters.
`--open-ended` gives the run no budget (the dashboard's case: cycles of `cycle_minutes`) and
`--eval-at` scores the whole validation text at those training times too (not counted in the
budget), to compare schedules at every point of a long run. The 1-minute load average (`uptime`)
is printed before and after each run.

The text is split as the Trainer splits it: the first 90% trains, the last 10% validates
(val_fraction 0.1). Periodic validation and samples are switched off during the timed run so the
whole budget goes to training; at the end `engine.streams.validation_loss` reads all of the
validation text (not the val_max_chars prefix the dashboard uses). `--threads` limits BLAS threads
(set before NumPy loads); the default leaves BLAS alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "tinyshakespeare.txt"


def _early_threads(argv: list[str]) -> None:
    """Apply --threads through the environment before NumPy is imported."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None
        if arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        if value:
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[var] = value


_early_threads(sys.argv[1:])

import numpy as np  # noqa: E402

from rnn_tui.engine import Config, Trainer, preset  # noqa: E402
from rnn_tui.engine.allocator import retain_freed_memory  # noqa: E402
from rnn_tui.engine.streams import validation_loss  # noqa: E402


def parse_override(item: str, base: Config) -> tuple[str, object]:
    """'name=value' with the value converted to the type of the field in `base`."""
    name, _, raw = item.partition("=")
    if not hasattr(base, name):
        raise SystemExit(f"--set {item}: Config has no field {name!r}")
    current = getattr(base, name)
    if isinstance(current, bool):
        return name, raw.lower() in ("1", "true", "yes")
    if isinstance(current, int):
        return name, int(float(raw))
    if isinstance(current, float):
        return name, float(raw)
    return name, raw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="lstm")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--minutes", type=float, default=None, help="training time (default 5)")
    limit.add_argument(
        "--cpu-seconds",
        type=float,
        default=None,
        help="stop when this process has used this much CPU time (a load-robust budget)",
    )
    limit.add_argument(
        "--max-chars",
        type=float,
        default=0,
        help="stop after this many training characters instead (a load-independent budget)",
    )
    p.add_argument(
        "--open-ended",
        action="store_true",
        help="give the run no budget (its schedule runs in cycles of cycle_minutes)",
    )
    p.add_argument(
        "--eval-at",
        default="",
        metavar="S1,S2,...",
        help="also score the whole validation text at these training seconds (on the budget's clock)",
    )
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: the library's own)"
    )
    p.add_argument(
        "--json", type=Path, default=None, help="append the result as one JSON line here"
    )
    args = p.parse_args(argv)

    if not args.corpus.is_file():
        print(f"corpus {args.corpus} not found; pass --corpus")
        return 2
    retained = retain_freed_memory()  # as `rnn-tui train` does
    from rnn_tui.corpora import load_corpus  # the text as rnn-tui reads it (licence stripped)

    text = load_corpus(str(args.corpus)).text
    # a time budget picks the preset's size as `rnn-tui --minutes` does; a step budget does not
    if args.max_chars or args.open_ended:
        minutes = None
    elif args.cpu_seconds is not None:
        minutes = args.cpu_seconds / 60
    else:
        minutes = 5.0 if args.minutes is None else args.minutes
    cfg: Config = preset(args.preset, minutes=minutes)
    changes = dict(parse_override(item, cfg) for item in args.set)
    changes.setdefault("val_every", 0)
    changes.setdefault("sample_every", 0)
    cfg = cfg.replace(**changes)
    eval_at = sorted(float(x) for x in args.eval_at.split(",") if x.strip())

    trainer = Trainer(cfg, text, corpus_name=args.corpus.name)
    if args.max_chars:
        clock_name, budget = "steps", float(int(args.max_chars // trainer.chars_per_step))
    elif args.cpu_seconds is not None:
        clock_name, budget = "cpu", args.cpu_seconds
        trainer.clock = time.process_time
    else:
        clock_name, budget = "wall", (5.0 if args.minutes is None else args.minutes) * 60.0
    if not args.open_ended:
        trainer.set_budget("steps" if clock_name == "steps" else "seconds", budget)
    load_before = os.getloadavg()
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M')}; preset {args.preset}; overrides {changes}; "
        f"budget {budget:g} {'steps' if clock_name == 'steps' else clock_name + ' s'}"
        f"{' (open-ended schedule)' if args.open_ended else ''}; corpus {args.corpus.name} "
        f"({len(trainer.train_ids)} train / {len(trainer.val_ids)} validation chars); "
        f"params {trainer.model.param_count():,}; threads {args.threads or 'default'}; "
        f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"freed memory kept mapped: {retained}",
        flush=True,
    )

    log_every = max(1.0, budget / 10) if clock_name != "steps" else 30.0
    next_log = log_every
    evals: list[dict] = []
    pending = list(eval_at)
    wall0, cpu0 = time.perf_counter(), time.process_time()

    def between_steps() -> bool:
        """Progress lines and the extra validation passes (outside the budget's clock)."""
        nonlocal next_log
        position = trainer.step_count if clock_name == "steps" else trainer.elapsed
        while pending and position >= pending[0]:
            at = pending.pop(0)
            val_at = validation_loss(trainer.model, trainer.params, trainer.val_ids)
            evals.append({"at": at, "steps": trainer.step_count, "val_loss_nats": round(val_at, 4)})
            print(
                f"  eval at {at:g}: step {trainer.step_count}, validation {val_at:.4f} nats/char",
                flush=True,
            )
        if position >= next_log:
            next_log += log_every
            print(
                f"  {position:6.0f}  step {trainer.step_count:6d}  lr {trainer.current_learning_rate():.2e}"
                f"  last loss {trainer.last_loss:.3f} nats/char  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        return False

    if clock_name == "steps":
        trainer.run(lambda _e: None, between_steps, max_steps=int(budget))
    else:
        trainer.run(lambda _e: None, between_steps, max_seconds=budget)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    chars = trainer.step_count * cfg.seq_length * cfg.batch_size
    t1 = time.perf_counter()
    val = validation_loss(trainer.model, trainer.params, trainer.val_ids)
    val_seconds = time.perf_counter() - t1
    load_after = os.getloadavg()
    result = {
        "preset": args.preset,
        "overrides": changes,
        "clock": clock_name,
        "budget": budget,
        "open_ended": args.open_ended,
        "threads": args.threads,
        "steps": trainer.step_count,
        "train_chars": chars,
        "epochs": chars / len(trainer.train_ids),
        "train_s": round(trainer.elapsed, 1),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "chars_per_s": round(chars / max(trainer.elapsed, 1e-9)),
        "final_lr": trainer.learning_rate_at(max(trainer.step_count - 1, 0)),
        "val_loss_nats": round(val, 4),
        "val_loss_bits": round(val / np.log(2), 4),
        "val_chars": len(trainer.val_ids) - 1,
        "val_seconds": round(val_seconds, 1),
        "evals": evals,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(
        f"steps {result['steps']} ({result['epochs']:.2f} epochs, {result['chars_per_s']:,} chars/s "
        f"of training time over {trainer.elapsed:.0f} s; {wall:.0f} s wall, {cpu:.0f} s CPU); "
        f"validation loss over all {result['val_chars']:,} validation chars: "
        f"{val:.4f} nats/char ({result['val_loss_bits']:.3f} bits/char); "
        f"load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    if args.json:
        with args.json.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
