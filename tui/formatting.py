"""Numbers as the dashboard and the progress lines show them (one spelling of each)."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """h:mm:ss."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_count(value: float) -> str:
    """A count with thousands separators, or k/M for large numbers (3 significant digits)."""
    if value < 10_000:
        return f"{value:,.0f}"
    if value < 1_000_000:
        return f"{value / 1000:.3g}k"
    return f"{value / 1_000_000:.3g}M"


def format_value(value: float) -> str:
    """A setting as a person would type it."""
    return f"{value:g}" if isinstance(value, float) else str(value)
