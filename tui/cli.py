"""The `rnn-tui` command: parsers and dispatch to the subcommands (tui/subcommands/).

    rnn-tui [CORPUS] [options]     the dashboard, training on CORPUS (same as `rnn-tui train`)
    rnn-tui SUBCOMMAND ...         see SUBCOMMANDS below, or `rnn-tui --help`

Every bad argument or input ends in one line on stderr and exit status 2, before anything is written.
"""

from __future__ import annotations

import sys
from types import ModuleType

from .options import UsageError
from .output import print_error, settle_output
from .subcommands import (
    attach,
    baselines,
    corpora,
    inspect,
    lr_find,
    runs,
    sample,
    serve,
    train,
)

EXIT_USAGE = 2

SUBCOMMANDS: dict[str, ModuleType] = {
    "train": train,
    "sample": sample,
    "inspect": inspect,
    "baselines": baselines,
    "corpora": corpora,
    "lr-find": lr_find,
    "attach": attach,
    "runs": runs,
    "serve": serve,
}


def overview() -> str:
    """The subcommands, one line each with an example, for the end of `rnn-tui --help`."""
    width = max(map(len, SUBCOMMANDS))
    lines = ["subcommands (rnn-tui SUBCOMMAND --help for each):"]
    for name, module in SUBCOMMANDS.items():
        lines.append(f"  {name:<{width}}  {module.SUMMARY}")
        lines.append(f"  {'':<{width}}  e.g. {module.EXAMPLE}")
    lines.append("")
    lines.append("With no subcommand, rnn-tui opens the dashboard: rnn-tui kafka.txt")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] and argv[0] in SUBCOMMANDS:
            name = argv[0]
            return SUBCOMMANDS[name].main(argv[1:], prog=f"rnn-tui {name}")
        if argv[:1] in (["-h"], ["--help"]):
            train.parser("rnn-tui", epilog=overview()).print_help()
            return 0
        return train.main(argv, prog="rnn-tui")
    except UsageError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C while loading or downloading, before training started
        print_error("interrupted before training started; nothing was saved")
        return 130


def run() -> None:
    """Console-script wrapper: exit with main()'s status."""
    status = main()
    settle_output()
    sys.exit(status)


if __name__ == "__main__":
    run()
