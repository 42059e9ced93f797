"""`rnn-tui runs [DIR] [--json]`: every run below runs/ (or DIR), and which are live."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..options import Parser

SUMMARY = "list the runs below runs/: corpus, model, step, best validation loss, live or not"
EXAMPLE = "rnn-tui runs --json"


def parser(prog: str = "rnn-tui runs") -> Parser:
    """Options of `rnn-tui runs`."""
    p = Parser(prog=prog, description="List every run below runs/ (or DIR) and whether it is live.")
    p.add_argument(
        "dir", nargs="?", default="runs", metavar="DIR", help="where to look (default runs/)"
    )
    p.add_argument("--json", action="store_true", help="a JSON list of objects, for scripts")
    return p


def short_time(iso: str | None) -> str:
    """'10:31' today, '2026-11-26' another day, '–' never."""
    if not iso:
        return "–"
    day, _, clock = iso.partition("T")
    return clock[:5] if day == time.strftime("%Y-%m-%d") else day


def main(argv: list[str], prog: str = "rnn-tui runs") -> int:
    """Print the runs as a table, or as JSON."""
    args = parser(prog).parse_args(argv)
    from ..runlist import list_runs

    entries = list_runs(Path(args.dir))
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
        return 0
    if not entries:
        print(f"no runs below {args.dir}/ (start one with: rnn-tui CORPUS)")
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("run", "corpus", "model", "step", "best val", "saved", "state", "pid"):
        numeric = column in ("step", "best val", "pid")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for e in entries:
        state = e.state + (f", {e.viewers} watching" if e.live and e.viewers else "")
        table.add_row(
            e.run_dir,
            Path(e.corpus).name if e.corpus else "?",
            (e.model or "?").replace("x", "×"),
            f"{e.step:,}" if e.step is not None else "?",
            f"{e.best_val_loss:.3f}" if e.best_val_loss is not None else "–",
            short_time(e.last_checkpoint),
            state,
            str(e.pid) if e.pid else "",
            style="bold" if e.live else None,
        )
    Console().print(table)
    return 0
