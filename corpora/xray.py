"""Corpus X-ray: plain-text lines describing a corpus before training (size, characters, the
rarest ones, control characters, space and newline) and a warning when the text is small for
the model."""

from __future__ import annotations

import unicodedata

from .corpus import Corpus

RAREST_SHOWN = 5
# char-rnn's rule of thumb: parameters roughly on the order of the characters. Beyond this
# many parameters per character the model can memorise the text rather than learn from it.
MAX_PARAMS_PER_CHAR = 10

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", " ": "space"}


def show_char(ch: str) -> str:
    """A character made visible: 'a', '\\n', '\\x0c', '\\u200b', space."""
    if ch in _NAMED:
        return _NAMED[ch] if ch == " " else f"'{_NAMED[ch]}'"
    if ch.isprintable():
        return repr(ch)
    return "'" + ch.encode("unicode_escape").decode("ascii") + "'"


def _is_control(ch: str) -> bool:
    # Cc: C0/C1 controls; Cf: invisible format characters (zero-width space, stray BOM, ...).
    return ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf")


def xray(corpus: Corpus, param_count: int | None = None) -> list[str]:
    """Plain-text lines about `corpus`, with a "warning:" line if the model is large for it."""
    counts = corpus.char_counts
    num_chars = corpus.num_chars
    spaces, newlines = counts.get(" ", 0), counts.get("\n", 0)
    lines = [
        f"corpus: {corpus.name} ({corpus.source})",
        f"size: {corpus.size_bytes:,} bytes, {num_chars:,} characters, {newlines:,} newlines",
        f"distinct characters: {corpus.num_distinct:,}",
    ]
    rarest = sorted(counts.items(), key=lambda item: (item[1], item[0]))[:RAREST_SHOWN]
    lines.append("rarest: " + ", ".join(f"{show_char(c)} ({n:,})" for c, n in rarest))
    controls = [(c, n) for c, n in counts.items() if _is_control(c)]
    if controls:
        shown = ", ".join(f"{show_char(c)} ({n:,})" for c, n in controls[:10])
        more = f" and {len(controls) - 10} more" if len(controls) > 10 else ""
        lines.append(f"control characters: {shown}{more}")
    else:
        lines.append("control characters: none")
    lines.append(
        f"space: {'yes' if spaces else 'no (the text has no spaces)'}; "
        f"newline: {'yes' if newlines else 'no (samples will be one long line)'}"
    )
    lines.append(f"sha256: {corpus.sha256}")
    if param_count is not None:
        ratio = param_count / max(num_chars, 1)
        lines.append(
            f"model: {param_count:,} parameters for {num_chars:,} characters "
            f"({ratio:.2g} per character; char-rnn's rule of thumb is about 1)"
        )
        if ratio > MAX_PARAMS_PER_CHAR:
            lines.append(
                f"warning: the text is small for this model ({param_count:,} parameters, "
                f"{num_chars:,} characters); it may memorise the text instead of learning "
                "from it: use a longer text or a smaller --hidden-size"
            )
    return lines
