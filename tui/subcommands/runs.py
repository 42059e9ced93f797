"""`rnn-tui runs [DIR] [--json]`: every run below runs/ (or DIR), and which are live."""

from __future__ import annotations

import json
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
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"runs below {args.dir}/", title_justify="left")
    for column in ("run", "corpus", "model", "step", "best val", "last checkpoint", "state"):
        table.add_column(column, justify="right" if column in ("step", "best val") else "left")
    for e in entries:
        state = e.state if not e.live else f"{e.state} · pid {e.pid}"
        if e.live and e.viewers:
            state += f" · {e.viewers} watching"
        table.add_row(
            e.run_dir,
            Path(e.corpus).name if e.corpus else "?",
            e.model or "?",
            f"{e.step:,}" if e.step is not None else "?",
            f"{e.best_val_loss:.3f}" if e.best_val_loss is not None else "–",
            (e.last_checkpoint or "–").replace("T", " "),
            state,
            style="bold" if e.live else None,
        )
    Console().print(table)
    return 0
