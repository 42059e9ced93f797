"""From parsed `rnn-tui train` options to a ready Trainer: the corpus, a fresh, resumed or
fine-tuned model, its run folder and checkpoint path, and the BLAS thread count.

`prepare(args)` is the one factory the command and the tests both use (posting's
`make_posting()` is the model): everything that can be wrong with the input is found here, as a
UsageError, before anything is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnn_tui.engine import (
    LIVE_HPARAMS,
    CheckpointError,
    ConfigError,
    Trainer,
    VocabError,
    fine_tune_trainer,
    preset,
    resume_trainer,
)
from rnn_tui.engine.cells import make_cell
from rnn_tui.engine.checkpoint import read_meta
from rnn_tui.engine.config import Config
from rnn_tui.engine.streams import StreamError

from .options import UsageError, flag, given_settings

BLAS_THREADS_FROM = 16384  # batch x hidden x gates at which a second BLAS thread starts to pay


@dataclass
class Launch:
    """A trainer ready to run, and where its run lives."""

    trainer: Trainer
    corpus_lines: list[str]  # the corpus x-ray, shown before training and in the help
    run_dir: Path
    checkpoint: Path


def prepare(args: argparse.Namespace) -> Launch:
    """A fresh, resumed or fine-tuned Trainer from the parsed options, with its run folder and
    checkpoint path and the corpus x-ray (UsageError, before anything is written, if bad)."""
    from rnn_tui.corpora import CorpusError, load_corpus, xray

    overrides = given_settings(args)
    try:
        if args.resume:
            meta = read_meta(args.resume)
            if not args.fine_tune:
                _refuse_fixed_settings(args, overrides)
            spec = args.corpus or (None if args.fine_tune else meta.get("corpus_name")) or None
            saved = meta.get("config", {}) if isinstance(meta.get("config"), dict) else {}
            seq_length = int(overrides.get("seq_length", saved.get("seq_length", 25)))
        else:
            if args.fine_tune:
                raise UsageError("--fine-tune needs --resume CHECKPOINT (the model to start from)")
            config = preset(args.preset or "classic").replace(**overrides)
            spec, seq_length = args.corpus, config.seq_length
        corpus = load_corpus(
            spec,
            encoding=args.encoding,
            keep_newlines=args.keep_newlines,
            corpus_dir=args.corpus_dir,
            min_length=seq_length + 2,
            progress=bool(args.headless and sys.stderr.isatty()),
        )
        name = corpus_spec(spec)
        if args.run_dir:
            run_dir = Path(args.run_dir)
        elif args.resume and not args.fine_tune:  # a resumed run keeps saving beside it
            run_dir = Path(args.resume).parent
        else:
            run_dir = Path("runs") / slug(name)
        checkpoint = Path(args.checkpoint) if args.checkpoint else run_dir / "latest.npz"
        check_writable(checkpoint)
        if args.log_jsonl:
            check_writable(Path(args.log_jsonl))
        where = {"corpus_name": name, "corpus_sha256": corpus.sha256, "checkpoint_path": checkpoint}
        if args.resume and args.fine_tune:
            trainer = fine_tune_trainer(
                args.resume,
                corpus.text,
                changes=overrides,
                keep_optimizer=args.keep_optimizer,
                **where,
            )
        elif args.resume:
            trainer = resume_trainer(args.resume, corpus.text, changes=overrides, **where)
        else:
            trainer = Trainer(config, corpus.text, **where)
    except (CorpusError, CheckpointError, ConfigError, StreamError, VocabError) as exc:
        raise UsageError(str(exc)) from None
    return Launch(trainer, xray(corpus, trainer.model.param_count()), run_dir, checkpoint)


def _refuse_fixed_settings(args: argparse.Namespace, overrides: dict[str, Any]) -> None:
    """On resume the checkpoint fixes everything but the live settings: say so for the rest."""
    fixed = sorted(set(overrides) - set(LIVE_HPARAMS))
    names = [flag(f) for f in fixed]
    if args.preset is not None:
        names.insert(0, "--preset")
    if names:
        raise UsageError(
            f"{', '.join(names)} cannot change when resuming (the checkpoint fixes the model); "
            "drop them, or start a new run (--fine-tune to start from these weights)"
        )


def corpus_spec(spec: str | None) -> str:
    """What to store in checkpoints so `--resume` alone finds the text again: a path or a name."""
    if spec is None:
        return "python"
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def slug(name: str) -> str:
    """A run folder name from a corpus name or path."""
    stem = Path(name).stem if ("/" in name or "." in name) else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "run"


def check_writable(path: Path) -> None:
    """Fail early (before training) if a file could never be written there."""
    if path.exists() and path.is_dir():
        raise UsageError(f"{path} is a folder; give a file path")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK):
        raise UsageError(
            f"cannot write {path}: {parent} is not writable; choose another --run-dir or --checkpoint"
        )


def blas_threads(config: Config, requested: int | None) -> int:
    """BLAS threads for this model: more threads only pay off for large matrix products.

    Waking a second thread for the classic model's (1 x 100) @ (100 x 100) products costs more than
    it saves (measured 2-5x slower on 2 cores), so small models run single-threaded.
    """
    if requested is not None:
        if requested < 1:
            raise UsageError(f"--threads must be at least 1 (got {requested})")
        return requested
    work = config.batch_size * config.hidden_size * make_cell(config.cell, 1).gates
    return (os.cpu_count() or 1) if work >= BLAS_THREADS_FROM else 1
