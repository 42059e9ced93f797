"""Writing to a terminal that may go away: one-line errors, streams that fail quietly, a clean exit.

Over SSH the terminal can vanish at any moment (a dropped link, a closed laptop). Training must
never stop because its output cannot be shown, and the process must never end in a traceback
because the interpreter could not flush a closed pipe.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

ERROR_WIDTH = 400  # an error is one line: a pasted novel in a value is cut, not echoed


def print_error(message: str, kind: str = "error") -> None:
    """`rnn-tui: error: message` as one line on stderr; a vanished terminal is not an error."""
    line = " ".join(str(message).split())
    if len(line) > ERROR_WIDTH:
        line = line[: ERROR_WIDTH - 1] + "…"
    with contextlib.suppress(OSError, ValueError):
        print(f"rnn-tui: {kind}: {line}", file=sys.stderr, flush=True)


class TolerantStream:
    """A text stream whose first write error (a closed terminal, a full disk) silences it for good.

    `on_error` is told once, then writes are dropped.
    """

    def __init__(self, stream: Any, on_error: Any = None):
        self.stream = stream
        self.on_error = on_error
        self.failed: OSError | ValueError | None = None

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                self.stream.write(text)
            except (OSError, ValueError) as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._fail(exc)

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        try:
            self.stream.close()
        except (OSError, ValueError) as exc:
            if self.failed is None:
                self._fail(exc)

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, ...: as the wrapped stream
        return getattr(self.stream, name)

    def _fail(self, exc: OSError | ValueError) -> None:
        self.failed = exc
        if self.on_error is not None:
            self.on_error(exc)


def settle_output() -> None:
    """Flush stdout and stderr now; if the reader has gone (a closed pipe, a dropped terminal),
    point them at /dev/null so the interpreter's own final flush cannot fail with a traceback."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
