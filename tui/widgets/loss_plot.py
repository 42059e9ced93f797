"""The loss panel: a plotext chart of smoothed training and validation loss, with the n-gram
yardsticks as labelled reference lines once they are known, and a sparkline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean

import numpy as np
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.widgets import Sparkline
from textual_plotext import PlotextPlot

NICE_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
LOSS_TICKS = (
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    1.0,
    1.2,
    1.4,
    1.7,
    2.0,
    2.5,
    3.0,
    3.5,
    4.0,
    5.0,
    6.0,
    8.0,
    10.0,
)
Y_STEP = 0.05  # log10 units the y range snaps to, so the axis rarely moves
Y_LABEL_WIDTH = 6  # columns plotext spends on the y tick labels and the axis


def nice_ceiling(value: float) -> float:
    """The smallest 'nice' number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) >= value."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    for mantissa in NICE_MANTISSAS:
        if mantissa * scale >= value * (1 - 1e-12):
            return mantissa * scale
    return 10.0 * scale


def nice_ticks(x_max: float, count: int = 4) -> list[float]:
    """Ticks at multiples of 1, 2, 2.5 or 5 x 10^k from 0 to x_max, about `count` intervals."""
    scale = 10.0 ** math.floor(math.log10(x_max / (count + 1)))
    step = next(
        m * scale
        for m in (1.0, 2.0, 2.5, 5.0, 10.0, 20.0)
        if x_max / (m * scale) <= count + 1 + 1e-9
    )
    return [i * step for i in range(int(x_max / step + 1e-9) + 1)]


def tick_label(value: float) -> str:
    """Short axis label: 800, 1.5k, 12k, 1.2M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def bin_curve(points: np.ndarray, x_max: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of (step, loss) points in `bins` equal step ranges of [0, x_max]; empty bins dropped."""
    if len(points) == 0:
        return np.empty(0), np.empty(0)
    steps, losses = points[:, 0], points[:, 1]
    keep = np.isfinite(losses) & (losses > 0)
    steps, losses = steps[keep], losses[keep]
    index = np.clip((steps / x_max * bins).astype(int), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    filled = counts > 0
    mean_step = np.bincount(index, steps, minlength=bins)[filled] / counts[filled]
    mean_loss = np.bincount(index, losses, minlength=bins)[filled] / counts[filled]
    return mean_step, mean_loss


class LossPlot(PlotextPlot):
    """log10 of the loss per character against step; replots only when the drawing would change."""

    def __init__(self, vocab_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.baseline = math.log(max(vocab_size, 2))
        self.train_curve = np.empty((0, 2))
        self.val_curve = np.empty((0, 2))
        self.change_steps: tuple[int, ...] = ()
        self.step = 0
        self.yardsticks: tuple[tuple[str, float], ...] = ()  # (label, nats) below ln V
        self._signature: tuple | None = None
        self.replots = 0

    def show(
        self,
        train_curve: np.ndarray,
        val_curve: np.ndarray,
        change_steps: Sequence[int],
        step: int,
    ) -> bool:
        """Keep the data; replot if the drawing changed. Returns whether it replotted."""
        self.train_curve, self.val_curve = train_curve, val_curve
        self.change_steps, self.step = tuple(change_steps), step
        return self.replot()

    def show_yardsticks(self, yardsticks: Sequence[tuple[str, float]]) -> bool:
        """Reference lines (label, loss per char) besides ln V; replot. Returns whether it did."""
        self.yardsticks = tuple(
            (label, float(value))
            for label, value in yardsticks
            if label != "uniform" and math.isfinite(value) and value > 0
        )
        return self.replot()

    def on_resize(self) -> None:
        self._signature = None
        self.replot()

    def replot(self) -> bool:
        """Rebuild the chart from the stored data if the rendered result would differ."""
        width, height = self.size
        if width < 10 or height < 3:
            return False
        x_max = nice_ceiling(max(self.step, 100))
        bins = max(8, 2 * (width - Y_LABEL_WIDTH))  # braille: two dots per column
        train_x, train_y = bin_curve(self.train_curve, x_max, bins)
        val_x, val_y = bin_curve(self.val_curve, x_max, bins)
        train_y, val_y = np.log10(train_y), np.log10(val_y)
        base_y = math.log10(self.baseline)
        references = [(label, math.log10(value)) for label, value in self.yardsticks]
        values = np.concatenate([train_y, val_y, [base_y], [y for _, y in references]])
        y_low = math.floor(values.min() / Y_STEP) * Y_STEP
        y_high = math.ceil(values.max() / Y_STEP + 0.25) * Y_STEP
        rows = 4 * height  # braille: four dots per row

        def level(y: np.ndarray) -> tuple[int, ...]:
            return tuple(np.round((y - y_low) / (y_high - y_low) * rows).astype(int).tolist())

        changes = tuple(s for s in self.change_steps if 0 < s <= x_max)
        signature = (
            width,
            height,
            x_max,
            y_low,
            y_high,
            self.app.theme,
            tuple((train_x / x_max * bins).astype(int).tolist()),
            level(train_y),
            tuple((val_x / x_max * bins).astype(int).tolist()),
            level(val_y),
            changes,
            tuple(references),
        )
        if signature == self._signature:
            return False
        self._signature = signature
        y_range = (y_low, y_high)
        self._draw(x_max, y_range, (train_x, train_y), (val_x, val_y), base_y, changes, references)
        return True

    def _draw_references(self, x_max, y_range, base_y, references) -> None:
        """A line per yardstick, labelled at the left where no other label sits on its row
        (close orders share rows at small heights: the line stays, its label goes)."""
        plt = self.plt
        colours = self.app.theme_variables
        muted = _rgb(colours.get("foreground-muted", colours.get("foreground", "grey")))
        # the canvas colour is only set when the theme is applied at render time, after this
        surface = _rgb(colours.get("surface", "black"))
        y_low, y_high = y_range
        rows = max(1, self.size.height - 2)  # plotext keeps a row for the x ticks, one for axes
        taken: set[int] = set()
        labels = [("ln V", base_y), *references] if references else []
        for label, y in sorted(labels, key=lambda item: item[1]):
            if label != "ln V":
                plt.hline(y, muted)
            row = round((y - y_low) / (y_high - y_low) * (rows - 1))
            if row in taken:
                continue
            taken.add(row)
            plt.text(label, x_max * 0.02, y, color=muted, background=surface, alignment="left")

    def _draw(self, x_max, y_range, train, val, base_y, changes, references) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        colours = self.app.theme_variables
        train_colour = _rgb(colours.get("primary", "blue"))
        val_colour = _rgb(colours.get("warning", "yellow"))
        muted_colour = _rgb(colours.get("foreground-muted", colours.get("foreground", "grey")))
        change_colour = _rgb(colours.get("error", "red"))
        plt.xlim(0, x_max)
        plt.ylim(*y_range)
        ticks = [t for t in LOSS_TICKS if y_range[0] <= math.log10(t) <= y_range[1]]
        keep_every = max(1, math.ceil(len(ticks) / max(2, self.size.height // 2)))
        ticks = ticks[::-1][::keep_every][::-1]  # thin from the top, keeping the highest tick
        plt.yticks([math.log10(t) for t in ticks], [f"{t:g}" for t in ticks])
        x_ticks = nice_ticks(x_max, 4 if self.size.width >= 50 else 3)
        plt.xticks(x_ticks, [tick_label(x) for x in x_ticks])
        plt.hline(base_y, muted_colour)
        self._draw_references(x_max, y_range, base_y, references)  # under the curves
        for step in changes:
            plt.vline(step, change_colour)
        if len(train[0]):
            plt.plot(train[0].tolist(), train[1].tolist(), marker="braille", color=train_colour)
        if len(val[0]):
            plt.plot(val[0].tolist(), val[1].tolist(), marker="braille", color=val_colour)
        self.replots += 1
        self.refresh()


def _rgb(colour: str) -> tuple[int, int, int]:
    """A theme colour as the RGB tuple plotext wants."""
    try:
        return Color.parse(colour).rgb
    except Exception:
        return (128, 128, 128)


class LossPanel(Vertical):
    """The loss chart above a sparkline of the recent raw losses."""

    def __init__(self, vocab_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vocab_size = vocab_size
        self.border_title = "Loss per char (log scale)"
        self.border_subtitle = (
            "[$primary]━ train[/] [$warning]━ val[/] "
            f"[$foreground-muted]─ ln V={math.log(vocab_size):.2f}[/]"
            " [$error]│ change[/]"
        )

    def show_yardsticks(self, yardsticks: Sequence[tuple[str, float]]) -> None:
        """Draw the baselines (label, nats/char) as reference lines and say so underneath."""
        self.query_one(LossPlot).show_yardsticks(yardsticks)
        self.border_subtitle = (
            "[$primary]━ train[/] [$warning]━ val[/] "
            "[$foreground-muted]─ baselines[/]"
            " [$error]│ change[/]"
        )

    def compose(self) -> ComposeResult:
        yield LossPlot(self.vocab_size, id="loss-plot")
        yield Sparkline([], summary_function=fmean, id="loss-sparkline")

    def show(
        self,
        train_curve: np.ndarray,
        val_curve: np.ndarray,
        change_steps: Sequence[int],
        step: int,
        recent_losses: np.ndarray,
    ) -> None:
        """Update the chart (if its drawing changed) and the sparkline."""
        self.query_one(LossPlot).show(train_curve, val_curve, change_steps, step)
        data = [float(x) for x in recent_losses if math.isfinite(x)]
        sparkline = self.query_one(Sparkline)
        if data != sparkline.data:
            sparkline.data = data
