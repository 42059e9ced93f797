"""Corpus X-ray: plain-text lines describing a corpus before training (size, characters, the
rarest ones, control characters, space and newline), a warning when the text is small for
the model, and one when the validation slice is not like the rest of the text."""

from __future__ import annotations

import math
import unicodedata

from .corpus import Corpus, count_chars

RAREST_SHOWN = 5
# char-rnn's rule of thumb: parameters roughly on the order of the characters. Beyond this
# many parameters per character the model can memorise the text rather than learn from it.
MAX_PARAMS_PER_CHAR = 10

# The validation slice differs from the training text when a unigram model of the training
# text needs this many more bits per character on it than the slice's own unigram does
# (KL(val || train), add-half smoothing), beyond the estimate's own small-sample bias.
# Calibrated at val_fraction 0.1 (docs/reliability.md): kafka.txt with its licence footer
# 0.27; stripped kafka 0.022, tinyshakespeare 0.014, the built-in python corpus 0.015.
VAL_SHIFT_BITS = 0.08
MIN_VAL_CHARS = 1000  # fewer held-out characters than this say too little to warn about
DEFAULT_VAL_FRACTION = 0.1

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


def validation_shift(text: str, counts: dict[str, int], val_fraction: float) -> float | None:
    """Extra bits per character a unigram model of the training part of `text` needs on the
    validation part (its last `val_fraction`, as the engine splits it) beyond what the
    validation part's own unigram needs, less the estimate's small-sample bias; None when the
    validation part is too short to say. `counts` are the character counts of all of `text`.
    """
    n_val = int(len(text) * val_fraction)
    n_train = len(text) - n_val
    if n_val < MIN_VAL_CHARS or n_train < 1:
        return None
    val_counts = count_chars(text[n_train:])
    vocab = len(counts)
    total = 0.0
    for ch, n in val_counts.items():
        p_val = n / n_val
        # add-half smoothing: a character absent from training costs a lot, not infinitely much
        p_train = (counts[ch] - n + 0.5) / (n_train + 0.5 * vocab)
        total += p_val * math.log2(p_val / p_train)
    # an empirical distribution over k characters has an expected KL of about (k-1)/(2n ln 2)
    bias = (len(val_counts) - 1) / (2 * n_val * math.log(2))
    return total - bias


def xray(
    corpus: Corpus, param_count: int | None = None, *, val_fraction: float = DEFAULT_VAL_FRACTION
) -> list[str]:
    """Plain-text lines about `corpus`, with a "warning:" line if the model is large for it
    and one if the validation slice (the last `val_fraction` of the text) is unlike the rest."""
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
    shift = validation_shift(corpus.text, counts, val_fraction) if val_fraction > 0 else None
    if shift is not None and shift > VAL_SHIFT_BITS:
        share = f"{100 * val_fraction:g}%"
        lines.append(
            f"warning: the validation text (the last {share}) is unlike the rest in its characters "
            f"({shift:.2f} bits/char apart; {VAL_SHIFT_BITS:g} is the limit), so the validation "
            "loss will not measure what training learns: check the end of the text for a licence, "
            "an index or an appendix, or change --val-fraction"
        )
    return lines
