"""The range test's loss-against-rate chart as terminal text (plotext), for `rnn-tui lr-find`
and the dashboard's finder dialog alike."""

from __future__ import annotations

import math

import plotext

from rnn_tui.engine.lr_find import RangeTest


def range_test_chart(
    result: RangeTest, width: int = 72, height: int = 18, colour: bool = True
) -> str:
    """Loss per character (raw and smoothed) against the rate on a log axis, with a line at the
    suggested rate. Plain text when `colour` is False."""
    plt = plotext
    plt.clear_figure()
    rates = result.rates.tolist()
    plt.plot(rates, result.losses.tolist(), marker="braille", color="gray", label="loss")
    plt.plot(rates, result.smoothed.tolist(), marker="braille", color="blue", label="smoothed")
    if math.isfinite(result.suggestion) and rates and rates[0] <= result.suggestion <= rates[-1]:
        plt.vline(result.suggestion, "green")
    plt.xscale("log")
    top = max(result.smoothed[: max(1, len(result.smoothed) // 10)].max(), result.smoothed.min())
    plt.ylim(max(0.0, float(result.smoothed.min()) - 0.2), float(top) + 0.2)
    plt.xlabel("learning rate")
    plt.title("loss per character (nats) against the learning rate")
    plt.plotsize(width, height)
    plt.theme("clear")
    text = plt.build()
    plt.clear_figure()
    return text if colour else plt.uncolorize(text)
