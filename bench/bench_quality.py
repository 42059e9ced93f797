"""Quality for time: train a preset for N minutes of wall clock, then report the validation loss
per character over the whole validation text.

    python bench/bench_quality.py                          # lstm preset, 5 minutes, tinyshakespeare
    python bench/bench_quality.py --preset classic --minutes 5
    python bench/bench_quality.py --preset lstm --set seq_length=50 --set learning_rate=0.003

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
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument(
        "--max-chars",
        type=float,
        default=0,
        help="stop after this many training characters instead (a load-independent budget)",
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
    text = args.corpus.read_text(encoding="utf-8")
    cfg: Config = preset(args.preset)
    changes = dict(parse_override(item, cfg) for item in args.set)
    changes.setdefault("val_every", 0)
    changes.setdefault("sample_every", 0)
    cfg = cfg.replace(**changes)
    budget = args.minutes * 60.0
    if cfg.schedule == "cosine" and cfg.total_steps == 0:
        print("note: cosine schedule without total_steps is constant after warm-up")

    trainer = Trainer(cfg, text, corpus_name=args.corpus.name)
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M')}; preset {args.preset}; overrides {changes}; "
        f"{args.minutes:g} min; corpus {args.corpus.name} ({len(trainer.train_ids)} train / "
        f"{len(trainer.val_ids)} validation chars); params {trainer.model.param_count():,}; "
        f"load average {os.getloadavg()[0]:.2f}; freed memory kept mapped: {retained}",
        flush=True,
    )

    log_every = 30.0 if args.max_chars else max(1.0, budget / 10)
    next_log = log_every
    t0 = time.perf_counter()

    def publish(_event) -> None:
        nonlocal next_log
        now = time.perf_counter() - t0
        if now >= next_log:
            next_log += log_every
            print(
                f"  {now:6.0f} s  step {trainer.step_count:6d}  last loss {trainer.last_loss:.3f} nats/char",
                flush=True,
            )

    if args.max_chars:
        steps = int(args.max_chars // (cfg.seq_length * cfg.batch_size))
        trainer.run(publish, max_steps=steps)
    else:
        trainer.run(publish, should_stop=lambda: time.perf_counter() - t0 >= budget)
    wall = time.perf_counter() - t0
    chars = trainer.step_count * cfg.seq_length * cfg.batch_size
    t1 = time.perf_counter()
    val = validation_loss(trainer.model, trainer.params, trainer.val_ids)
    val_seconds = time.perf_counter() - t1
    result = {
        "preset": args.preset,
        "overrides": changes,
        "minutes": None if args.max_chars else args.minutes,
        "max_chars": args.max_chars or None,
        "steps": trainer.step_count,
        "train_chars": chars,
        "epochs": chars / len(trainer.train_ids),
        "wall_s": round(wall, 1),
        "chars_per_s": round(chars / wall),
        "val_loss_nats": round(val, 4),
        "val_loss_bits": round(val / np.log(2), 4),
        "val_chars": len(trainer.val_ids) - 1,
        "val_seconds": round(val_seconds, 1),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(
        f"steps {result['steps']} ({result['epochs']:.2f} epochs, {result['chars_per_s']:,} chars/s over "
        f"{wall:.0f} s); validation loss over all {result['val_chars']:,} validation chars: "
        f"{val:.4f} nats/char ({result['val_loss_bits']:.3f} bits/char)"
    )
    if args.json:
        with args.json.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
