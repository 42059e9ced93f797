"""Neuron-view renderers: a passage coloured character by character by one unit or by surprise.

Pure functions of plain data (text, one value per character, optional top guesses), no widgets:
- `render_html`: a self-contained teaching page (inline CSS, no script, no external reference)
  with a legend and, on hover, each character's value and the model's top guesses;
- `render_ansi`: rich Text rows for a terminal, wrapped to a width, or with `color=False` each
  text row followed by a ramp row (the heatmap's NO_COLOR ramp) under its characters.

Both take colours from one palette (`levels` + `palette`), built on the hidden-state heatmap's
quantisation and diverging palette, so a value looks the same on the heatmap, in the page, in
the terminal and in a Textual neuron view (`palette_from_theme` gives that view the theme's
colours). Activations use the heatmap's 9 levels over [-1, 1]; surprise (a per-character loss in
nats) uses a sequential palette with one level per nat from 0 to SURPRISE_MAX.
"""

from __future__ import annotations

import html
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Literal, TextIO

import numpy as np
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.color import Color

from .widgets.heatmap import LEVELS, RAMP, diverging_palette, quantise, show_char

Kind = Literal["activation", "surprise"]
Guesses = Sequence[Sequence[tuple[str, float]]]  # per position: (char, probability), best first

SURPRISE_MAX = float(LEVELS - 1)  # nats at the top level: one level per nat, 8+ is "very"
TOP_GUESSES = 5
# the heatmap's fallback colours (its theme variables surface/primary/error), plus one for surprise
DEFAULT_COLOURS: dict[str, str] = {
    "neutral": "#222222",
    "negative": "#3060ff",
    "positive": "#ff4040",
    "surprising": "#ffa62b",
}
THEME_VARIABLES = {  # which Textual theme variable each colour follows (as the heatmap does)
    "neutral": "surface",
    "negative": "primary",
    "positive": "error",
    "surprising": "warning",
}


# -- the shared palette -------------------------------------------------------------------------


def levels(values: np.ndarray, kind: Kind = "activation") -> np.ndarray:
    """Palette levels 0..LEVELS-1 of per-character values (N,) int8; NaN is the neutral level.

    Activations in [-1, 1] as the heatmap quantises them (0 is the middle level); surprise in
    nats from 0 (level 0, the neutral colour) to SURPRISE_MAX and above (the top level).
    """
    if kind == "activation":
        return quantise(values)
    if kind == "surprise":
        clean = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
        scaled = np.rint(clean * ((LEVELS - 1) / SURPRISE_MAX))
        return np.clip(scaled, 0, LEVELS - 1).astype(np.int8)
    raise ValueError(f"kind must be 'activation' or 'surprise', not {kind!r}")


def level_value(level: int, kind: Kind = "activation") -> float:
    """The value a level stands for (its centre): what the legend prints under its swatch."""
    if kind == "activation":
        return (level - (LEVELS - 1) / 2) / ((LEVELS - 1) / 2)
    return level * SURPRISE_MAX / (LEVELS - 1)


def sequential_palette(neutral: Color, high: Color) -> list[Color]:
    """LEVELS colours from `neutral` (nothing to see) to `high` (the most surprising)."""
    return [neutral.blend(high, level / (LEVELS - 1)) for level in range(LEVELS)]


def palette(kind: Kind = "activation", colours: Mapping[str, str] | None = None) -> list[Color]:
    """The LEVELS colours of a kind, from DEFAULT_COLOURS overridden by `colours` (CSS strings)."""
    chosen = {**DEFAULT_COLOURS, **(colours or {})}
    parsed = {name: Color.parse(value) for name, value in chosen.items()}
    if kind == "activation":
        return diverging_palette(parsed["negative"], parsed["neutral"], parsed["positive"])
    if kind == "surprise":
        return sequential_palette(parsed["neutral"], parsed["surprising"])
    raise ValueError(f"kind must be 'activation' or 'surprise', not {kind!r}")


def palette_from_theme(variables: Mapping[str, str], kind: Kind = "activation") -> list[Color]:
    """The palette in a Textual theme's colours (`app.theme_variables`), as the heatmap takes them."""
    colours = {name: variables[var] for name, var in THEME_VARIABLES.items() if var in variables}
    return palette(kind, colours)


def value_colour(value: float, kind: Kind = "activation") -> Color:
    """The default palette's colour of one value."""
    return palette(kind)[int(levels(np.array([value]), kind)[0])]


def visible(ch: str) -> str:
    """The heatmap's label for a character, kept at least one cell wide (a lone combining mark
    would otherwise take no cell and shift every ramp character after it)."""
    shown = show_char(ch)
    return shown if cell_len(shown) >= 1 else "�"


def _check(text: str, values: np.ndarray, guesses: Guesses | None) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)  # (N,)
    if values.size != len(text):
        raise ValueError(f"{values.size} values for a passage of {len(text)} characters")
    if guesses is not None and len(guesses) != len(text):
        raise ValueError(f"{len(guesses)} guess lists for a passage of {len(text)} characters")
    return values


# -- HTML ---------------------------------------------------------------------------------------

PAGE_CSS = """
body { background: %(page)s; color: %(ink)s; font-family: sans-serif; margin: 2em; }
h1 { font-size: 1.3em; font-weight: normal; }
.about { max-width: 50em; opacity: 0.85; }
.legend { display: flex; gap: 2px; margin: 1em 0 1.5em; align-items: flex-end; }
.legend div { text-align: center; font-size: 0.75em; }
.legend .sw { width: 4.5em; height: 1.4em; display: block; margin-bottom: 0.2em; }
.legend .unit { align-self: center; margin-left: 1em; font-size: 0.85em; }
.passage { font-family: monospace; font-size: 1.05em; line-height: 1.6;
  white-space: pre-wrap; word-break: break-all; }
.c { cursor: default; }
.c:hover { outline: 2px solid %(ink)s; }
.ws { font-style: normal; opacity: 0.55; }
"""


def _percent(log_p: float) -> str:
    """A probability from its log as a percentage: 37%, 5.0%, 0.091%, <0.01%."""
    percent = 100 * math.exp(log_p)
    if percent >= 10:
        return f"{percent:.0f}%"
    return f"{percent:.2g}%" if percent >= 0.01 else "<0.01%"


def _describe_value(value: float, kind: Kind, unit_label: str) -> str:
    if math.isnan(value):
        return f"{unit_label}: no value"
    if kind == "surprise":
        return f"{unit_label}: {value:.2f} nats (p = {_percent(-value)})"
    return f"{unit_label}: {value:+.3f}"


def _tooltip(
    ch: str,
    position: int,
    value: float,
    guesses: Sequence[tuple[str, float]] | None,
    kind: Kind,
    label: str,
) -> str:
    lines = [f"'{visible(ch)}' at {position}", _describe_value(value, kind, label)]
    if guesses:
        lines.append("top guesses:")
        lines += [f"  {visible(g)}  {p:.1%}" for g, p in list(guesses)[:TOP_GUESSES]]
    return "\n".join(lines)


def _legend(kind: Kind, unit_label: str) -> str:
    cells = []
    for level in range(LEVELS):
        value = level_value(level, kind)
        if kind == "surprise":
            top = "+" if level == LEVELS - 1 else ""
            caption = f"{value:.0f}{top} nat{'' if value == 1 else 's'}<br>p {_percent(-value)}"
        else:
            caption = f"{value:+.2f}"
        cells.append(f'<div><span class="sw l{level}"></span>{caption}</div>')
    unit = html.escape("nats, −ln p" if kind == "surprise" else "activation")
    cells.append(f'<div class="unit">{html.escape(unit_label)} ({unit})</div>')
    return '<div class="legend">' + "".join(cells) + "</div>"


def _about(kind: Kind, unit_label: str) -> str:
    label = html.escape(unit_label)
    if kind == "surprise":
        return (
            f"Each character's background is {label}: the model's loss on it, "
            "−ln p(character | the text before it) in nats. Dark: the model expected it; "
            "bright: it was surprised. Hover a character for the exact value and the model's "
            "top guesses."
        )
    return (
        f"Each character's background is {label} after reading it: the left end of the "
        "scale is −1, the right end +1, and the page colour 0. Hover a character for the exact "
        "value and the model's top guesses."
    )


def render_html(
    text: str,
    values: np.ndarray,
    guesses: Guesses | None = None,
    *,
    title: str,
    unit_label: str,
    kind: Kind = "activation",
    colours: Mapping[str, str] | None = None,
) -> str:
    """A self-contained HTML page of `text` with each character's background set by its value.

    values (N,) one per character; guesses, when given, per position the model's top guesses as
    (char, probability) pairs, shown on hover with the value. Newlines show as '⏎' and break
    the line, spaces as a dim '·'. Nothing is loaded from anywhere: inline CSS, no script.
    """
    values = _check(text, values, guesses)
    colours_list = palette(kind, colours)
    neutral = Color.parse({**DEFAULT_COLOURS, **(colours or {})}["neutral"])
    css = PAGE_CSS % {"page": neutral.hex, "ink": neutral.get_contrast_text(1.0).hex}
    css += "".join(
        f".l{level} {{ background: {c.hex}; color: {c.get_contrast_text(1.0).hex}; }}\n"
        for level, c in enumerate(colours_list)
    )
    level_of = levels(values, kind).tolist()
    spans = []
    for position, ch in enumerate(text):
        tip = _tooltip(
            ch,
            position,
            float(values[position]),
            guesses[position] if guesses is not None else None,
            kind,
            unit_label,
        )
        shown = html.escape(visible(ch))
        if ch in " \n\t":  # a dim mark: the glyph fades, the background keeps its colour
            shown = f'<i class="ws">{shown}</i>'
        spans.append(
            f'<span class="c l{level_of[position]}" '
            f'title="{html.escape(tip, quote=True)}">{shown}</span>'
        )
        if ch == "\n":
            spans.append("<br>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="about">{_about(kind, unit_label)}</p>\n'
        f"{_legend(kind, unit_label)}\n"
        f'<div class="passage">{"".join(spans)}</div>\n'
        "</body>\n</html>\n"
    )


# -- terminal -----------------------------------------------------------------------------------


def wants_colour(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only for a terminal and only when NO_COLOR is unset or empty (no-color.org)."""
    stream = sys.stdout if stream is None else stream
    environ = os.environ if environ is None else environ
    return not environ.get("NO_COLOR") and bool(getattr(stream, "isatty", lambda: False)())


def _rows(text: str, width: int) -> list[list[int]]:
    """Character positions per terminal row: wrapped at `width` cells, and after each newline."""
    rows: list[list[int]] = []
    row: list[int] = []
    used = 0
    for position, ch in enumerate(text):
        cells = cell_len(visible(ch))
        if row and used + cells > width:
            rows.append(row)
            row, used = [], 0
        row.append(position)
        used += cells
        if ch == "\n":
            rows.append(row)
            row, used = [], 0
    if row:
        rows.append(row)
    return rows


def level_styles(
    kind: Kind = "activation", colours: Mapping[str, str] | None = None
) -> list[Style]:
    """One rich Style per level: the palette colour behind readable (contrasting) text."""
    return [
        Style(bgcolor=c.rich_color, color=c.get_contrast_text(1.0).rich_color)
        for c in palette(kind, colours)
    ]


def render_ansi(
    text: str,
    values: np.ndarray,
    *,
    width: int,
    color: bool,
    kind: Kind = "activation",
    colours: Mapping[str, str] | None = None,
) -> list[Text]:
    """Terminal rows of `text` wrapped to `width` cells, coloured by value (values (N,)).

    color=True: one Text per row, runs of equal level as one span (a few styles, merged cells).
    color=False: each text row followed by a ramp row, RAMP[level] under every character, from
    ' ' (-1, or no surprise) to '@' (+1, or SURPRISE_MAX nats and more); no styles at all.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, not {width}")
    values = _check(text, values, None)
    level_of = levels(values, kind).tolist()
    styles = level_styles(kind, colours) if color else []
    lines: list[Text] = []
    for row in _rows(text, width):
        shown = [visible(text[p]) for p in row]
        if color:
            line = Text()
            start = 0
            for i in range(1, len(row) + 1):
                if i == len(row) or level_of[row[i]] != level_of[row[start]]:
                    line.append("".join(shown[start:i]), styles[level_of[row[start]]])
                    start = i
            lines.append(line)
        else:
            ramp = "".join(
                RAMP[level_of[p]] + " " * (cell_len(s) - 1) for p, s in zip(row, shown, strict=True)
            )
            lines += [Text("".join(shown)), Text(ramp)]
    return lines
