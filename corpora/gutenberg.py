"""Project Gutenberg clean-up: the licence header before the START marker and the footer from
the END marker on are removed, leaving only the book, and how much was removed is reported."""

from __future__ import annotations

import re
from typing import NamedTuple

# "*** START OF THE PROJECT GUTENBERG EBOOK METAMORPHOSIS ***" and older variants
# ("THIS PROJECT", "E-BOOK", missing spaces). Matched on whole lines, either newline style.
_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (?:THE |THIS )?PROJECT GUTENBERG E-?BOOK[^\r\n]*(?:\r\n|\r|\n)?",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^[ \t]*\*{3}[ \t]*END OF (?:THE |THIS )?PROJECT GUTENBERG E-?BOOK",
    re.IGNORECASE | re.MULTILINE,
)
# The lines older ebooks put shortly before the END marker ("End of the Project Gutenberg
# EBook of Metamorphosis, by Franz Kafka" and a credit line or two).
_END_OF_EBOOK = re.compile(
    r"^[ \t]*End of (?:the )?Project Gutenberg", re.IGNORECASE | re.MULTILINE
)
_FOOTER_WINDOW = 1000


class Stripped(NamedTuple):
    """A text with its Project Gutenberg boilerplate removed, and what was removed."""

    text: str
    removed_start: int  # characters cut before the book (licence header, blank lines)
    removed_end: int  # characters cut after it (footer, licence)
    header: bool  # whether a START marker (a licence header) was found
    footer: bool  # whether an END marker (a licence footer) was found

    @property
    def changed(self) -> bool:
        """Whether anything was removed."""
        return self.header or self.footer


def split_gutenberg(text: str) -> Stripped:
    """The book without the Project Gutenberg header and footer, with the counts removed.

    A text with neither marker, or with nothing but whitespace between them, is returned as it is.
    """
    start = _START.search(text)
    end = _END.search(text, start.end() if start else 0)
    if start is None and end is None:
        return Stripped(text, 0, 0, False, False)
    lo = start.end() if start else 0
    hi = end.start() if end else len(text)
    if end is not None:
        tail = _END_OF_EBOOK.search(text, max(lo, hi - _FOOTER_WINDOW), hi)
        if tail is not None:
            hi = tail.start()
    body = text[lo:hi]
    kept = body.strip()
    if not kept:
        return Stripped(text, 0, 0, False, False)
    first = lo + (len(body) - len(body.lstrip()))
    last = lo + len(body.rstrip())
    newline = "\r\n" if "\r\n" in body else "\n"
    return Stripped(kept + newline, first, len(text) - last, start is not None, end is not None)


def strip_gutenberg(text: str) -> str:
    """The book without the Project Gutenberg header and footer; `text` itself if it has neither."""
    return split_gutenberg(text).text


def boilerplate_notice(header: bool, footer: bool, start: int, end: int, files: int = 1) -> str:
    """The one line that tells the user what was removed and how to keep it."""
    parts = []
    if header:
        parts.append(f"header ({start:,} characters)")
    if footer:
        parts.append(f"footer ({end:,} characters)")
    what = " and ".join(parts)
    where = f" of {files:,} files" if files > 1 else ""
    return (
        f"removed the Project Gutenberg licence {what}{where}; pass --keep-boilerplate to keep "
        f"{'them' if len(parts) > 1 or files > 1 else 'it'}"
    )
