"""`rnn-tui lr-find CORPUS [model options]`: a learning-rate range test on a fresh model.

A few hundred steps of training on a throwaway copy while the rate grows geometrically
(engine/lr_find.py), the loss against the rate drawn in the terminal, and a suggested rate with
the reason for it. Nothing is saved: no checkpoint, no run folder, no log.
"""

from __future__ import annotations

import argparse
import os
import sys

from rnn_tui.engine import ConfigError, Trainer, VocabError, preset
from rnn_tui.engine.allocator import retain_freed_memory
from rnn_tui.engine.config import PRESETS
from rnn_tui.engine.lr_find import range_test
from rnn_tui.engine.streams import StreamError

from ..launch import blas_threads
from ..options import (
    Parser,
    UsageError,
    add_settings,
    add_text_options,
    given_settings,
    text_options,
)

SUMMARY = "find a learning rate: a short range test on a copy, loss against rate, a suggestion"
EXAMPLE = "rnn-tui lr-find shakespeare --preset lstm"


def parser(prog: str = "rnn-tui lr-find") -> Parser:
    """Options of `rnn-tui lr-find`: the range, and the model and text options of `train`."""
    p = Parser(
        prog=prog,
        description="Sweep the learning rate geometrically over a few hundred steps of training "
        "on a copy of a fresh model, plot the loss against the rate and suggest a rate. "
        "Nothing is saved.",
    )
    p.add_argument(
        "corpus",
        nargs="?",
        help="text file, folder of text files, or catalogue name (default: python, built in)",
    )
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="a whole configuration to start from (default classic: the video's model)",
    )
    sweep = p.add_argument_group("the sweep")
    sweep.add_argument(
        "--sweep-steps", type=int, default=300, metavar="N", help="steps of the sweep (default 300)"
    )
    sweep.add_argument("--start", type=float, default=1e-5, help="the first rate (default 1e-5)")
    sweep.add_argument("--end", type=float, default=1.0, help="the last rate (default 1)")
    sweep.add_argument(
        "--threads", type=int, help="BLAS threads (default: 1 for small models, else all cores)"
    )
    add_text_options(p)
    add_settings(p)
    return p


def check_sweep(args: argparse.Namespace) -> None:
    """The range options argparse cannot check."""
    if args.sweep_steps < 2:
        raise UsageError(f"--sweep-steps must be at least 2 (got {args.sweep_steps})")
    if not (0 < args.start < args.end < float("inf")):
        raise UsageError(
            f"the rates must satisfy 0 < --start < --end (got {args.start:g} and {args.end:g})"
        )


def main(argv: list[str], prog: str = "rnn-tui lr-find") -> int:
    """Run the range test and print the chart and the suggestion."""
    from rnn_tui.corpora import CorpusError, load_corpus

    args = parser(prog).parse_args(argv)
    check_sweep(args)
    try:
        config = preset(args.preset or "classic").replace(**given_settings(args))
        corpus = load_corpus(
            args.corpus,
            **text_options(args),
            min_length=config.seq_length + 2,
        )
        trainer = Trainer(config, corpus.text, corpus_name=args.corpus or "python")
    except (CorpusError, ConfigError, StreamError, VocabError) as exc:
        raise UsageError(str(exc)) from None
    retain_freed_memory()
    from threadpoolctl import threadpool_limits

    tty = sys.stderr.isatty()

    def progress(i: int, rate: float, loss: float) -> None:
        if tty and (i % 10 == 0 or i == args.sweep_steps - 1):
            sys.stderr.write(f"\rstep {i + 1}/{args.sweep_steps}  rate {rate:.2e}  loss {loss:.3f}")
            sys.stderr.flush()

    with threadpool_limits(limits=blas_threads(config, args.threads), user_api="blas"):
        result = range_test(
            config,
            trainer.params,
            trainer.train_ids,
            len(trainer.vocab),
            start=args.start,
            end=args.end,
            steps=args.sweep_steps,
            seed=config.seed,
            on_step=progress,
        )
    if tty:
        sys.stderr.write("\r\x1b[K")
    assert result is not None  # never aborted here
    from ..lr_plot import range_test_chart

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(range_test_chart(result, colour=colour))
    taken = len(result.losses)
    ended = (
        f", stopped at {result.rates[-1]:.2g} when the loss blew up" if result.stopped_early else ""
    )
    print(
        f"{taken} steps from {args.start:g} to {args.end:g} (batch {config.batch_size} x "
        f"{config.seq_length}, {config.optimizer}){ended}"
    )
    print(f"suggested learning rate: {result.suggestion:g} ({result.reason})")
    return 0
