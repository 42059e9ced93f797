"""CorpusError: the one exception the corpora package raises for anything the user can fix."""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


class CorpusError(Exception):
    """Text could not be loaded; str(err) is one line saying what is wrong and what to do."""

    def __init__(self, message: str, *, reason: str | None = None):
        # Keep the promise of one line even when a reason from the OS spans several.
        super().__init__(_one_line(message))
        # What is wrong without the advice, so a caller can rephrase it (e.g. for a cache entry).
        self.reason = _one_line(reason) if reason else str(self)
