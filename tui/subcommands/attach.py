"""`rnn-tui attach [RUN_DIR]`: the dashboard on a run that trains in another process."""

from __future__ import annotations

import os
import sys

from ..options import Parser, UsageError

SUMMARY = "open the dashboard on a live run (trained in the background or another terminal)"
EXAMPLE = "rnn-tui attach runs/kafka"


def parser(prog: str = "rnn-tui attach") -> Parser:
    """Options of `rnn-tui attach`."""
    p = Parser(
        prog=prog,
        description="Watch and steer a live run: the same dashboard, as if it had never left. "
        "q stops the run (saving a checkpoint); d leaves it training.",
    )
    p.add_argument(
        "run_dir",
        nargs="?",
        metavar="RUN_DIR",
        help="the run's folder (default: the only live run below runs/; `rnn-tui runs` lists them)",
    )
    return p


def in_browser() -> bool:
    """Whether this process is a browser tab's app (textual-serve's web driver)."""
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def main(argv: list[str], prog: str = "rnn-tui attach") -> int:
    """Attach the dashboard to a live run."""
    args = parser(prog).parse_args(argv)
    from rnn_tui.engine.client import AttachError, RemoteRun

    from ..runlist import choose_run

    run_dir = choose_run(args.run_dir)
    if not in_browser() and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError("the dashboard needs an interactive terminal; `rnn-tui runs` shows runs")
    try:
        remote = RemoteRun(run_dir)
    except AttachError as exc:
        raise UsageError(str(exc)) from None
    from ..app import run_app
    from ..handover import Leave

    return run_app(remote, corpus_lines=remote.notes, detacher=Leave(remote))
