"""`rnn-tui [train] CORPUS`: train on a corpus, in the dashboard (default) or --headless."""

from __future__ import annotations

import argparse
import contextlib
import math
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from rnn_tui.engine import Trainer, runlock
from rnn_tui.engine.allocator import retain_freed_memory
from rnn_tui.engine.config import PRESETS

from ..formatting import format_duration
from ..handover import HandOver
from ..launch import Launch, blas_threads, prepare
from ..options import Parser, UsageError, add_settings, add_text_options
from ..yardsticks import DEFAULT_ORDER, MAX_ORDER, yardstick_options

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
    limit.add_argument(
        "--steps",
        type=int,
        help="stop after this many more steps (a cosine schedule decays over them)",
    )
    limit.add_argument(
        "--minutes",
        type=float,
        help="stop after this many minutes of training (a cosine schedule decays over them; "
        "15 or more give the lstm preset its long-run model, 2 x 384 with dropout 0.3)",
    )
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
    run.add_argument(
        "--baseline-order",
        type=int,
        default=DEFAULT_ORDER,
        metavar="N",
        help=f"n-gram yardsticks on the loss chart up to order N, 0 to {MAX_ORDER} (0: none; "
        f"default {DEFAULT_ORDER}; see rnn-tui baselines)",
    )
    run.add_argument(
        "--serve",
        action="store_true",
        help="headless: also serve the run to `rnn-tui attach` and `rnn-tui serve` (a socket in "
        "RUN_DIR), and ignore hang-ups: a run that outlives its terminal",
    )
    run.add_argument(
        "--on-hangup",
        choices=("detach", "save-exit"),
        default="detach",
        help="dashboard: when the terminal goes away (a dropped SSH link), go on training in the "
        "background (detach, the default) or save a checkpoint and stop (save-exit)",
    )
    # the dashboard's `d` hands its run to `--headless --serve` with these (not for people)
    run.add_argument("--inherit-lock", type=int, action="append", help=argparse.SUPPRESS)
    run.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    run.add_argument("--start-paused", action="store_true", help=argparse.SUPPRESS)
    add_text_options(p)
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
    if not 0 <= args.baseline_order <= MAX_ORDER:
        raise UsageError(
            f"--baseline-order must be between 0 and {MAX_ORDER} (got {args.baseline_order})"
        )
    if args.serve and not args.headless:
        raise UsageError("--serve goes with --headless (the dashboard serves its run anyway)")


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
    interactive = not args.headless
    try:
        with (
            hold_run_folders(launch, prog, argv, args.inherit_lock) as locks,
            threadpool_limits(limits=threads, user_api="blas"),
        ):
            if args.serve:
                return served(launch, args)
            if args.headless:
                return headless(launch, args)
            return dashboard(launch, args, locks)
    except RunInUse as busy:
        from ..runlist import offer_attach

        return offer_attach(busy.run_dir, str(busy), interactive=interactive)


class RunInUse(UsageError):
    """Another process trains in the run folder (it may serve viewers: offer to attach)."""

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = run_dir


@contextlib.contextmanager
def hold_run_folders(
    launch: Launch, prog: str, argv: list[str], inherited: list[int] | None = None
) -> Iterator[list[runlock.RunLock]]:
    """One writer per run folder: hold the lock of every folder the run saves in, for the
    life of the run (the kernel drops it if the process dies, so it is never stuck). A run
    handed over by a dashboard adopts the locked descriptors it inherited instead."""
    folders = dict.fromkeys(
        folder.resolve() for folder in (launch.checkpoint.parent, launch.run_dir)
    )
    command = shlex.join([*prog.split(), *_public(argv)])
    held: list[runlock.RunLock] = []
    with contextlib.ExitStack() as locks:
        for folder in folders:
            try:
                lock = (
                    _adopt_one(folder, inherited, command)
                    if inherited
                    else runlock.acquire(folder, command=command)
                )
            except runlock.RunLockError as exc:
                raise RunInUse(str(exc), folder) from None
            held.append(locks.enter_context(lock))
        yield held


def _public(argv: list[str]) -> list[str]:
    """The command line without the hand-over's internal options (for who-holds-it messages)."""
    shown, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--inherit-lock", "--ready-fd"):
            skip = True
        elif arg != "--start-paused":
            shown.append(arg)
    return shown


def _adopt_one(folder: Path, inherited: list[int], command: str) -> runlock.RunLock:
    """The lock of `folder` among the inherited descriptors (RunLockError if none is it)."""
    for fd in inherited:
        with contextlib.suppress(runlock.RunLockError):
            return runlock.adopt(folder, fd, command=command)
    raise runlock.RunLockError(f"no inherited descriptor holds the lock of {folder}")


def served(launch: Launch, args: argparse.Namespace) -> int:
    """Train headless and serve the run to viewers (`--headless --serve`)."""
    from ..background import run_served

    trainer = launch.trainer
    if args.start_paused:  # a paused dashboard was detached: it stays paused
        trainer.pause()
    max_steps, max_seconds, note = schedule_budget(trainer, args)
    return run_served(
        trainer,
        run_dir=launch.run_dir,
        corpus_lines=[*launch.corpus_lines, note] if note else launch.corpus_lines,
        checkpoint=launch.checkpoint,
        log_path=Path(args.log_jsonl) if args.log_jsonl else launch.run_dir / "metrics.jsonl",
        quiet=args.quiet,
        autosave_seconds=args.autosave_seconds,
        ready_fd=args.ready_fd,
        yardsticks=yardstick_options(args.baseline_order),
        max_steps=max_steps,
        max_seconds=max_seconds,
        max_epochs=args.max_epochs,
    )


def headless(launch: Launch, args: argparse.Namespace) -> int:
    """Train in this process, printing progress."""
    from ..headless import run_headless

    trainer = launch.trainer
    max_steps, max_seconds, note = schedule_budget(trainer, args)
    return run_headless(
        trainer,
        corpus_lines=[*launch.corpus_lines, note] if note else launch.corpus_lines,
        checkpoint=launch.checkpoint,
        log_path=args.log_jsonl,
        quiet=args.quiet,
        autosave_seconds=args.autosave_seconds,
        max_steps=max_steps,
        max_seconds=max_seconds,
        max_epochs=args.max_epochs,
        yardsticks=yardstick_options(args.baseline_order),
    )


def schedule_budget(
    trainer: Trainer, args: argparse.Namespace
) -> tuple[int | None, float | None, str]:
    """The run's budget (max_steps, max_seconds, a line saying so): a new one from --steps or
    --minutes, over which the learning-rate schedule decays (engine/schedule.py); without either,
    what is left of a resumed run's own budget, so an interrupted run ends where it would have."""
    if args.steps:
        trainer.set_budget("steps", args.steps)
        return trainer.step_count + args.steps, None, ""
    if args.minutes:
        trainer.set_budget("seconds", args.minutes * 60)
        return None, args.minutes * 60, ""
    left = trainer.budget_left()
    if left is None:
        return None, None, ""
    unit, amount = left
    if unit == "steps":
        steps = math.ceil(amount)
        note = f"continuing this run's budget: {steps:,} steps left"
        return trainer.step_count + steps, None, note
    return None, amount, f"continuing this run's budget: {format_duration(amount)} left"


def dashboard(
    launch: Launch, args: argparse.Namespace, locks: list[runlock.RunLock] | None = None
) -> int:
    """Open the Textual dashboard on an interactive terminal."""
    from ..app import run_app  # imported late: headless runs and errors need no Textual

    if args.steps or args.minutes:  # the dashboard does not stop, but its schedule spans them
        schedule_budget(launch.trainer, args)
    return run_app(
        launch.trainer,
        yardsticks=yardstick_options(args.baseline_order),
        corpus_lines=launch.corpus_lines,
        metrics_log=launch.run_dir / "metrics.jsonl",
        autosave_seconds=args.autosave_seconds,
        serve_dir=launch.run_dir,
        detacher=HandOver(launch.run_dir, launch.checkpoint, locks, args),
        on_hangup=args.on_hangup,
    )
