"""CorpusError: the one exception the corpora package raises for anything the user can fix."""

from __future__ import annotations


class CorpusError(Exception):
    """Text could not be loaded; str(err) is one line saying what is wrong and what to do."""

    def __init__(self, message: str):
        # Keep the promise of one line even when a reason from the OS spans several.
        super().__init__(" ".join(message.split("\n")).strip())
