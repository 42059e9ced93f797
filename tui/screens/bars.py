"""Probability bars for the guesses and candidates panels: eighth-block bars and percentages."""

from __future__ import annotations

from rich.cells import cell_len

from ..neuron_render import visible

EIGHTHS = " ▏▎▍▌▋▊▉"
FULL = "█"


def bar(fraction: float, width: int) -> str:
    """A left-aligned bar of `width` cells filled to `fraction` (clipped to [0, 1]), in eighths."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = FULL * full + (EIGHTHS[part] if part and full < width else "")
    return text.ljust(width)


def percent(p: float) -> str:
    """A probability as a percentage with one decimal, six cells wide: ' 37.2%'."""
    return f"{100 * p:5.1f}%"


def char_cell(ch: str) -> str:
    """A character as the views label it (space '·', newline '⏎'), padded to two cells."""
    shown = visible(ch)
    return shown + " " * max(0, 2 - cell_len(shown))
