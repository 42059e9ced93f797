"""The gradient-health panel: per parameter the gradient norm, the update-to-weight ratio and
the clipped share, as numbers with sparklines of the last probes; for tanh RNN layers how far
back the gradient reaches through the BPTT window and the recurrent matrix's largest singular
value; and a line of advice when something is far off.

All of it comes from the Snapshot's `gradient_health` (engine/gradient_health.py), which the
training thread measures a few times a second; the panel is one Static repainted at most every
couple of seconds and only when its text changed (a few hundred bytes).
"""

from __future__ import annotations

import itertools
import math
import textwrap

import numpy as np
from textual.content import Content
from textual.widgets import Static

from rnn_tui.engine.gradient_health import ADVICE_AFTER, GradientHealth

BLOCKS = "▁▂▃▄▅▆▇█"  # sparkline levels
BARS = " ▁▂▃▄▅▆▇█"  # bar-chart levels (a vanished gradient shows as nothing)
HEALTHY = (1e-4, 3e-2)  # update ratios inside this range are plain; outside it, warning
FAR = (1e-5, 1e-1)  # outside this they are an error colour (as the advice's thresholds)


def sparkline(values: np.ndarray, width: int) -> str:
    """The last `width` values as block characters on a log scale (the row's own range)."""
    values = np.asarray(values, dtype=np.float64)[-width:] if width > 0 else np.empty(0)
    shown = np.log10(np.where(np.isfinite(values) & (values > 0), values, np.nan))
    if width <= 0 or not np.isfinite(shown).any():
        return " " * max(width, 0)
    low, high = np.nanmin(shown), np.nanmax(shown)
    span = high - low if high > low else 1.0
    cells = [
        " " if not math.isfinite(v) else BLOCKS[int((v - low) / span * (len(BLOCKS) - 1) + 0.5)]
        for v in shown.tolist()
    ]
    return "".join(cells).rjust(width)


def bars(values: np.ndarray, width: int) -> str:
    """Bars for `values` on a linear scale from 0 to their maximum, binned to `width` cells."""
    values = np.asarray(values, dtype=np.float64)
    if width <= 0 or values.size == 0 or not np.isfinite(values).any():
        return ""
    if values.size > width:  # means of equal runs of steps
        edges = np.linspace(0, values.size, width + 1).astype(int)
        values = np.array([np.nanmean(values[a:b]) for a, b in itertools.pairwise(edges)])
    top = np.nanmax(values)
    if not top > 0:
        return BARS[0] * values.size
    levels = np.nan_to_num(values / top * (len(BARS) - 1), nan=0.0)
    return "".join(BARS[math.ceil(x)] if x > 0 else BARS[0] for x in levels.tolist())


def ratio_style(ratio: float) -> str:
    """Plain inside the healthy range, warning outside it, error a decade further."""
    if not math.isfinite(ratio):
        return "$text-muted"
    if FAR[0] <= ratio <= FAR[1]:
        return "" if HEALTHY[0] <= ratio <= HEALTHY[1] else "$warning"
    return "bold $error"


def _number(value: float, spec: str, width: int) -> str:
    return f"{value:{spec}}".rjust(width) if math.isfinite(value) else "—".rjust(width)


def health_lines(health: GradientHealth | None, width: int, cell: str = "rnn") -> list[Content]:
    """The panel's lines for `width` columns."""
    if health is None:
        return [Content.styled("waiting for the first measured step…", "$text-muted")]
    name_width = max(3, max(len(n) for n in health.names))
    fixed = name_width + 7 + 8 + 5 + 5  # name, ‖g‖, ratio, clipped, the spaces between
    spark = max(0, (width - fixed) // 2)
    header = f"{'':<{name_width}} {'‖g‖':>7} {'':<{spark}} {'‖Δw‖/‖w‖':>8} {'':<{spark}} clip"
    lines = [Content.styled(header.rstrip(), "$text-muted")]
    for i, name in enumerate(health.names):
        ratio = float(health.update_ratios[i])
        lines.append(
            Content.assemble(
                (f"{name:<{name_width}} ", "$text-muted"),
                _number(float(health.grad_norms[i]), ".3g", 7),
                " ",
                (sparkline(health.grad_norm_history[:, i], spark), "$primary"),
                " ",
                (_number(ratio, ".1e", 8), ratio_style(ratio)),
                " ",
                (sparkline(health.update_ratio_history[:, i], spark), "$accent"),
                " ",
                _number(float(health.clipped[i]) * 100, ".0f", 4) + "%",
            )
        )
    lines += reach_lines(health, width, cell)
    lines += advice_lines(health, width)
    return lines


def reach_lines(health: GradientHealth, width: int, cell: str) -> list[Content]:
    """One line per tanh layer: ‖∂L/∂h_t‖ over the window as bars (t = 0 on the left), with
    its range and the recurrent matrix's largest singular value."""
    if not health.reach:
        return [
            Content.styled(
                f"gradient reach and σ₁ are drawn for tanh RNN layers (this model: {cell})",
                "$text-muted",
            )
        ]
    lines = []
    for name, reach in health.reach.items():
        label = "reach" if len(health.reach) == 1 else f"reach {name.split('.')[0]}"
        finite = reach[np.isfinite(reach)]
        span = f" {finite.min():.2g}…{finite.max():.2g}" if finite.size else ""
        sigma = health.sigma.get(name)
        tail = f"  σ₁ {sigma:.2f}" if sigma is not None else ""
        room = max(4, width - len(label) - 1 - len(span) - len(tail))
        lines.append(
            Content.assemble(
                (f"{label} ", "$text-muted"),
                (bars(reach, min(room, len(reach))), "$primary"),
                (span, "$text-muted"),
                (tail, ""),
            )
        )
    return lines


def advice_lines(health: GradientHealth, width: int) -> list[Content]:
    """The advice in the warning colour, or the median update ratio when all is well, wrapped
    to `width` (the hyperparameter to try comes last and must not be cut off)."""
    advice = health.advice()
    ratio = health.median_weight_ratio()
    probes = len(health.clipped_history)
    if advice:
        text, style = "⚠ " + advice, "bold $warning"
    elif probes < ADVICE_AFTER or not math.isfinite(ratio):
        text, style = f"measuring… ({probes} of {ADVICE_AFTER} steps)", "$text-muted"
    else:
        text = f"median ‖Δw‖/‖w‖ {ratio:.1e}, rule of thumb ~1e-3: nothing far off"
        style = "$text-muted"
    return [Content.styled(line, style) for line in textwrap.wrap(text, max(width, 10))]


class GradientPanel(Static):
    """Per-parameter gradient health with sparklines; hidden or shown with a key."""

    def __init__(self, *, cell: str = "rnn", id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.cell = cell
        self.border_title = "Gradients"
        self.border_subtitle = "h hides"
        self.health: GradientHealth | None = None
        self._shown: tuple | None = None
        self._rows = 0
        self.repaints = 0

    def on_mount(self) -> None:
        self._paint()

    def on_resize(self) -> None:
        self._paint()

    def show(self, health: GradientHealth | None) -> None:
        """Keep the newest measurement and repaint if it reads differently."""
        self.health = health
        self._paint()

    def _paint(self) -> None:
        if not self.display:
            return
        width = max(20, self.content_region.width or self.size.width or 60)
        lines = health_lines(self.health, width, self.cell)
        key = (width, tuple(lines))
        if key == self._shown:
            return
        self._shown = key
        if self.health is not None:
            self.border_title = f"Gradients · step {self.health.step:,}"
        self.update(Content("\n").join(lines), layout=len(lines) != self._rows)
        self._rows = len(lines)
        self.repaints += 1
