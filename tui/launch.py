"""From parsed `rnn-tui train` options to a ready Trainer: the corpus, a fresh, resumed or
fine-tuned model, its run folder and checkpoint path, and the BLAS thread count.

`prepare(args)` is the one factory the command and the tests both use (posting's
`make_posting()` is the model): everything that can be wrong with the input is found here, as a
UsageError, before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
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
from rnn_tui.engine.checkpoint import check_checkpoint_target, read_meta
from rnn_tui.engine.config import LONG_RUN_MINUTES, Config, long_run_changes
from rnn_tui.engine.memory import char_bytes_of, check_memory
from rnn_tui.engine.persistence import saved_settings
from rnn_tui.engine.streams import StreamError

from .options import UsageError, flag, given_settings, text_options

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
    from rnn_tui.corpora import CorpusError, xray

    overrides = given_settings(args)
    budget_notice = None
    try:
        meta = None
        if args.resume:
            meta = read_meta(args.resume)
            if not args.fine_tune:
                _refuse_fixed_settings(args, overrides)
            config, vocab = saved_settings(args.resume, meta)
            config = config.replace(**overrides)
            spec = args.corpus or (None if args.fine_tune else meta.get("corpus_name")) or None
        else:
            if args.fine_tune:
                raise UsageError("--fine-tune needs --resume CHECKPOINT (the model to start from)")
            name = args.preset or "classic"
            config = preset(name, minutes=args.minutes).replace(**overrides)
            picked = set(long_run_changes(name, args.minutes)) - set(overrides)
            if picked:
                budget_notice = long_run_notice(name, args.minutes, config)
            spec = args.corpus
        corpus = _load(args, spec, config.seq_length, meta)
        check_memory(
            config,
            len(vocab) if args.resume else corpus.num_distinct,
            corpus.num_chars,
            char_bytes=char_bytes_of(corpus.text),
        )
        name = corpus_spec(spec)
        if args.run_dir:
            run_dir = Path(args.run_dir)
        elif args.resume and not args.fine_tune:  # a resumed run keeps saving beside it
            run_dir = Path(args.resume).parent
        else:
            run_dir = Path("runs") / slug(name)
        checkpoint = Path(args.checkpoint) if args.checkpoint else run_dir / "latest.npz"
        check_checkpoint_target(checkpoint)
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
    check_writable(checkpoint)
    if args.log_jsonl:
        check_writable(Path(args.log_jsonl))
    lines = [f"notice: {notice}" for notice in corpus.notices]
    if budget_notice:
        lines.append(f"notice: {budget_notice}")
    lines += xray(corpus, trainer.model.param_count(), val_fraction=trainer.config.val_fraction)
    return Launch(trainer, lines, run_dir, checkpoint)


def long_run_notice(name: str, minutes: float, config: Config) -> str:
    """What the budget chose, and how to choose otherwise."""
    late = f" from epoch {config.dropout_from_epoch:g}" if config.dropout_from_epoch else ""
    return (
        f"{minutes:g} minutes: the {name} preset trains a {config.num_layers} x "
        f"{config.hidden_size} {config.cell.upper()} with dropout {config.dropout:g}{late} "
        f"(measured better for {LONG_RUN_MINUTES:g} minutes or more); --hidden-size, --dropout "
        "and --dropout-from-epoch choose otherwise"
    )


def _load(args: argparse.Namespace, spec: str | None, seq_length: int, meta: dict | None) -> Any:
    """The corpus the options name. A run resumed from a checkpoint trained on the whole file
    (before rnn-tui stripped Project Gutenberg's licence) gets the whole file again."""
    from rnn_tui.corpora import load_corpus

    def load(keep_boilerplate: bool) -> Any:
        return load_corpus(
            spec,
            **{**text_options(args), "keep_boilerplate": keep_boilerplate},
            min_length=seq_length + 2,
            progress=bool(args.headless and sys.stderr.isatty()),
        )

    corpus = load(args.keep_boilerplate)
    resuming = meta is not None and not args.fine_tune
    if resuming and corpus.boilerplate != (0, 0) and corpus.sha256 != meta.get("corpus_sha256"):
        whole = load(True)
        if whole.sha256 == meta.get("corpus_sha256"):
            return whole
    return corpus


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
    """Fail early (before training) if a file could never be written there: by creating and
    removing a file of our own in the nearest folder that exists (`os.access` says yes to
    folders such as /proc that refuse every new file)."""
    try:
        if path.is_dir():
            raise UsageError(f"{path} is a folder; give a file path")
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"cannot write {path}: {parent} is not a folder")
    except PermissionError:
        raise UsageError(
            f"cannot write {path}: permission denied on a folder in its path; check the "
            "folders' permissions or choose another --run-dir"
        ) from None
    probe = parent / f".rnn-tui-write-test-{os.getpid()}"
    times = parent.stat()
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {parent} does not accept new files ({exc.strerror or exc}); "
            "choose another --run-dir or --checkpoint"
        ) from None
    os.close(fd)
    os.unlink(probe)
    with contextlib.suppress(OSError):  # leave the folder as it was found, its times included
        os.utime(parent, ns=(times.st_atime_ns, times.st_mtime_ns))


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
