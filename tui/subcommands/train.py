"""`rnn-tui [train] CORPUS`: train on a corpus, in the dashboard (default) or --headless."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Iterator

from rnn_tui.engine import runlock
from rnn_tui.engine.allocator import retain_freed_memory
from rnn_tui.engine.config import PRESETS

from ..launch import Launch, blas_threads, prepare
from ..options import Parser, UsageError, add_settings

SUMMARY = "train on a text, in the dashboard (the default) or --headless"
EXAMPLE = "rnn-tui train kafka.txt --headless --minutes 10"


def parser(prog: str = "rnn-tui", epilog: str | None = None) -> Parser:
    """Options of the dashboard and of headless training."""
    p = Parser(
        prog=prog,
        description="Watch a character-level RNN, written in pure NumPy, learn to write.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "corpus",
        nargs="?",
        help="text file, folder of text files, or catalogue name (default: python, built in)",
    )
    p.add_argument(
        "--headless", action="store_true", help="train without the dashboard, printing progress"
    )
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="a whole configuration to start from (default classic: the video's model)",
    )
    run = p.add_argument_group("the run")
    limit = run.add_mutually_exclusive_group()
    limit.add_argument("--steps", type=int, help="stop after this many more steps")
    limit.add_argument("--minutes", type=float, help="stop after this many minutes of training")
    run.add_argument(
        "--max-epochs",
        type=int,
        metavar="N",
        help="headless: stop once the training text has been read N times (counting a resumed "
        "run's earlier epochs)",
    )
    run.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    run.add_argument(
        "--fine-tune",
        action="store_true",
        help="with --resume: a new run on CORPUS starting from the checkpoint's weights and "
        "vocabulary (fresh optimiser memory unless --keep-optimizer)",
    )
    run.add_argument(
        "--keep-optimizer",
        action="store_true",
        help="with --fine-tune: keep the checkpoint's optimiser memory too",
    )
    run.add_argument(
        "--checkpoint", metavar="PATH", help="where to save (default RUN_DIR/latest.npz)"
    )
    run.add_argument(
        "--run-dir",
        metavar="DIR",
        help="folder for checkpoints and logs (default runs/<corpus>, or the --resume file's)",
    )
    run.add_argument(
        "--autosave-seconds",
        type=float,
        default=120.0,
        help="save a checkpoint this often while training (0: only at the end; default 120)",
    )
    run.add_argument(
        "--log-jsonl",
        metavar="PATH",
        help="headless: append metrics as JSON lines (the dashboard logs to RUN_DIR/metrics.jsonl)",
    )
    run.add_argument(
        "--quiet", action="store_true", help="headless: print only the final line and errors"
    )
    run.add_argument(
        "--threads", type=int, help="BLAS threads (default: 1 for small models, else all cores)"
    )
    text = p.add_argument_group("the text")
    text.add_argument("--encoding", help="text encoding of the corpus (default utf-8)")
    text.add_argument(
        "--keep-newlines", action="store_true", help="keep CRLF/CR line endings as they are"
    )
    text.add_argument(
        "--keep-boilerplate",
        action="store_true",
        help="keep a Project Gutenberg licence header and footer (removed by default)",
    )
    text.add_argument(
        "--corpus-dir",
        metavar="DIR",
        help="local folder with catalogue texts (or RNN_TUI_CORPUS_DIR)",
    )
    add_settings(p)
    return p


def check_limits(args: argparse.Namespace) -> None:
    """Range checks of the run options argparse cannot express."""
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be at least 1 (got {args.steps})")
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be positive (got {args.minutes})")
    if not args.autosave_seconds >= 0:
        raise UsageError(f"--autosave-seconds must be 0 or more (got {args.autosave_seconds})")
    if args.max_epochs is not None and args.max_epochs < 1:
        raise UsageError(f"--max-epochs must be at least 1 (got {args.max_epochs})")
    if args.keep_optimizer and not args.fine_tune:
        raise UsageError("--keep-optimizer goes with --fine-tune")


def main(argv: list[str], prog: str = "rnn-tui train") -> int:
    """Train on a corpus, in the dashboard or headless."""
    args = parser(prog).parse_args(argv)
    check_limits(args)
    if not args.headless and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "the dashboard needs an interactive terminal; add --headless to train in a script or pipe"
        )
    retain_freed_memory()  # steps reuse their arrays' memory instead of faulting it in again
    launch = prepare(args)
    from threadpoolctl import threadpool_limits

    threads = blas_threads(launch.trainer.config, args.threads)
    with hold_run_folders(launch, prog, argv), threadpool_limits(limits=threads, user_api="blas"):
        if args.headless:
            return headless(launch, args)
        return dashboard(launch, args)


@contextlib.contextmanager
def hold_run_folders(launch: Launch, prog: str, argv: list[str]) -> Iterator[None]:
    """One writer per run folder: hold the lock of every folder the run saves in, for the
    life of the run (the kernel drops it if the process dies, so it is never stuck)."""
    folders = dict.fromkeys(
        folder.resolve() for folder in (launch.checkpoint.parent, launch.run_dir)
    )
    command = shlex.join([*prog.split(), *argv])
    with contextlib.ExitStack() as locks:
        for folder in folders:
            try:
                locks.enter_context(runlock.acquire(folder, command=command))
            except runlock.RunLockError as exc:
                raise UsageError(str(exc)) from None
        yield


def headless(launch: Launch, args: argparse.Namespace) -> int:
    """Train in this process, printing progress."""
    from ..headless import run_headless

    trainer = launch.trainer
    return run_headless(
        trainer,
        corpus_lines=launch.corpus_lines,
        checkpoint=launch.checkpoint,
        log_path=args.log_jsonl,
        quiet=args.quiet,
        autosave_seconds=args.autosave_seconds,
        max_steps=trainer.step_count + args.steps if args.steps else None,
        max_seconds=args.minutes * 60 if args.minutes else None,
        max_epochs=args.max_epochs,
    )


def dashboard(launch: Launch, args: argparse.Namespace) -> int:
    """Open the Textual dashboard on an interactive terminal."""
    from ..app import run_app  # imported late: headless runs and errors need no Textual

    return run_app(
        launch.trainer,
        corpus_lines=launch.corpus_lines,
        metrics_log=launch.run_dir / "metrics.jsonl",
        autosave_seconds=args.autosave_seconds,
    )
