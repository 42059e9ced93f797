"""Project Gutenberg clean-up: the licence header before the START marker and the footer from
the END marker on are removed, leaving only the book."""

from __future__ import annotations

import re

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


def strip_gutenberg(text: str) -> str:
    """The book without the Project Gutenberg header and footer; `text` itself if it has neither."""
    start = _START.search(text)
    end = _END.search(text, start.end() if start else 0)
    if start is None and end is None:
        return text
    body = text[start.end() if start else 0 : end.start() if end else len(text)]
    if end is not None:
        tail = _END_OF_EBOOK.search(body, max(0, len(body) - _FOOTER_WINDOW))
        if tail is not None:
            body = body[: tail.start()]
    newline = "\r\n" if "\r\n" in body else "\n"
    return body.strip() + newline
