"""`rnn-tui baselines CORPUS`: the n-gram yardsticks of a corpus, as the dashboard draws them.

The same split, models and cache as a training run: fitted on the training part of the text,
scored on its validation part (the last --val-fraction), cached beside the corpus cache.
"""

from __future__ import annotations

import argparse

from rnn_tui.engine import SETTINGS, VocabError
from rnn_tui.engine.events import BaselinesReady
from rnn_tui.engine.streams import split_ids
from rnn_tui.engine.vocab import Vocab
from rnn_tui.engine.yardsticks import YardstickOptions, Yardsticks

from ..options import Parser, UsageError, add_text_options, text_options
from ..yardsticks import DEFAULT_ORDER, MAX_ORDER, baseline_table, baselines_cache_dir

SUMMARY = "print the n-gram baselines (yardsticks) of a corpus"
MAX_VAL_FRACTION = SETTINGS["val_fraction"].high  # as a training run allows
EXAMPLE = "rnn-tui baselines kafka.txt --order 6"


def parser(prog: str = "rnn-tui baselines") -> Parser:
    """Options of `rnn-tui baselines`."""
    p = Parser(
        prog=prog,
        description="Print the validation loss of uniform, unigram and character n-gram models "
        "(interpolated modified Kneser-Ney) fitted on a corpus's training split: the reference "
        "lines of the dashboard's loss chart.",
    )
    p.add_argument(
        "corpus",
        nargs="?",
        help="text file, folder of text files, or catalogue name (default: python, built in)",
    )
    p.add_argument(
        "--order",
        type=int,
        default=DEFAULT_ORDER,
        metavar="N",
        help=f"highest n-gram order, 1 to {MAX_ORDER} (default {DEFAULT_ORDER})",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        metavar="F",
        help="held-out fraction at the end of the text, as in training (default 0.1)",
    )
    p.add_argument(
        "--val-chars",
        type=int,
        default=0,
        metavar="N",
        help="score only the first N validation characters, as a training run's --val-chars "
        "does (default 0: all of them)",
    )
    add_text_options(p)
    return p


def check(args: argparse.Namespace) -> None:
    """Range checks argparse cannot express."""
    if not 1 <= args.order <= MAX_ORDER:
        raise UsageError(f"--order must be between 1 and {MAX_ORDER} (got {args.order})")
    if not 0 < args.val_fraction <= MAX_VAL_FRACTION:
        raise UsageError(
            f"--val-fraction must be above 0 and at most {MAX_VAL_FRACTION:g} (got "
            f"{args.val_fraction:g}): the baselines are scored on that part of the text"
        )
    if args.val_chars < 0:
        raise UsageError(f"--val-chars must be 0 or more (got {args.val_chars})")


def main(argv: list[str], prog: str = "rnn-tui baselines") -> int:
    """Load the corpus, compute (or read the cached) baselines, print the table."""
    from rnn_tui.corpora import CorpusError, load_corpus

    args = parser(prog).parse_args(argv)
    check(args)
    try:
        corpus = load_corpus(
            args.corpus,
            **text_options(args),
            min_length=3,
        )
        vocab = Vocab.from_text(corpus.text)
        train, val = split_ids(vocab.encode(corpus.text), args.val_fraction)
    except (CorpusError, VocabError) as exc:
        raise UsageError(str(exc)) from None
    if len(val) < 2 or len(train) < 2:
        raise UsageError(
            f"the text is too short to split ({corpus.num_chars} characters); use a longer text "
            "or a larger --val-fraction"
        )
    yardsticks = Yardsticks(
        train,
        val,
        vocab,
        corpus_sha256=corpus.sha256,
        val_fraction=args.val_fraction,
        val_max_chars=args.val_chars,
        options=YardstickOptions(cache_dir=baselines_cache_dir(), order=args.order, novelty=False),
    )
    yardsticks.attach(lambda event: None)
    try:
        result = yardsticks.wait_for_baselines()
    finally:
        yardsticks.stop()
    if not isinstance(result, BaselinesReady):
        reason = result.reason if result is not None else "they could not be computed"
        raise UsageError(f"no baselines for {corpus.name}: {reason}")
    for notice in corpus.notices:
        print(f"notice: {notice}")
    scored = "all" if result.val_chars == len(val) else f"the first {result.val_chars:,}"
    print(
        f"{corpus.name}: {corpus.num_chars:,} characters, V = {len(vocab)}; fitted on the "
        f"{len(train):,} training characters, scored on {scored} of the {len(val):,} "
        f"validation characters (the last {args.val_fraction * 100:g}% of the text)"
    )
    for line in baseline_table(result.baselines):
        print(line)
    how = "read from the cache" if result.cached else f"computed in {result.seconds:.1f} s"
    print(f"  {how}: {baselines_cache_dir()}")
    return 0
