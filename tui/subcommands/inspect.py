"""`rnn-tui inspect CHECKPOINT`: the microscope on a checkpoint's model.

With no output option it opens the neuron view (a terminal is needed). In a script or pipe:
`--find-cells` prints the units that track text features best, one per line (layer, signal,
unit, feature, r); `--unit N [--layer L] [--signal h|c]` prints the passage coloured by that unit
(ANSI colours on a terminal, a ramp row under each text row otherwise); `--html OUT.html` writes
a self-contained page of the neuron view with the model's top guesses on hover.

The passage is the checkpoint's own validation text (its corpus, found again from the path or
catalogue name the checkpoint records and split as training split it), warmed on the text just
before it, or `--text FILE`. Bad input of any kind is one line and exit status 2, before
anything is written; an existing file is overwritten only if rnn-tui inspect wrote it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np

from rnn_tui.engine import CheckpointError, SavedModel, VocabError, load_model
from rnn_tui.engine.events import PROBE_PASSAGE_CHARS, PROBE_WARMUP_CHARS
from rnn_tui.engine.probe import SIGNAL_DESCRIPTIONS, Trace, trace
from rnn_tui.engine.streams import split_ids

from ..options import Parser, UsageError

SUMMARY = "look inside a checkpoint's model: neuron view, cell finder, coloured text, HTML"
EXAMPLE = "rnn-tui inspect runs/kafka/latest.npz --find-cells --top 10"
VIEW_CHARS = 2_000  # as the neuron view (tui/screens/subject.py)
GENERATOR = '<meta name="generator" content="rnn-tui inspect">'  # marks pages we may overwrite
SIGNALS = tuple(SIGNAL_DESCRIPTIONS)


def parser(prog: str = "rnn-tui inspect") -> Parser:
    """Options of `rnn-tui inspect`."""
    p = Parser(
        prog=prog,
        description="Look inside a checkpoint's model: the neuron view (on a terminal), or the "
        "cell finder's table, a passage coloured by one unit, or an HTML page of it.",
    )
    p.add_argument("checkpoint", help="a checkpoint file (.npz) written by rnn-tui")
    p.add_argument(
        "--text",
        metavar="FILE",
        help="probe this UTF-8 text file (default: the checkpoint's validation text)",
    )
    p.add_argument(
        "--find-cells",
        action="store_true",
        help="print the units that track text features best: layer, signal, unit, feature, r",
    )
    p.add_argument("--top", type=int, default=20, help="rows of --find-cells (default 20)")
    p.add_argument(
        "--unit",
        type=int,
        help="print the passage coloured by this unit (with --html: colour the page by it)",
    )
    p.add_argument("--layer", type=int, help="the unit's layer (default 0)")
    p.add_argument(
        "--signal",
        choices=SIGNALS,
        help="h, the hidden output (default); c, an LSTM's memory; or a gate (i f o g, z r n)",
    )
    p.add_argument(
        "--html",
        metavar="OUT.html",
        help="write a self-contained page of the passage coloured by --unit (default: by the "
        "model's surprise), the top guesses on hover",
    )
    p.add_argument(
        "--chars",
        type=int,
        default=VIEW_CHARS,
        help=f"characters shown by --unit and --html (default {VIEW_CHARS:,}; the finder reads "
        f"up to {PROBE_PASSAGE_CHARS:,})",
    )
    return p


def main(argv: list[str], prog: str = "rnn-tui inspect") -> int:
    """Open the neuron view, or print / write what the options ask for."""
    args = parser(prog).parse_args(argv)
    check_options(args)
    outputs = args.find_cells or args.unit is not None or args.html is not None
    if not outputs and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "the neuron view needs an interactive terminal; in a script or pipe use "
            "--find-cells, --unit N or --html OUT.html"
        )
    if args.html:
        check_html_target(Path(args.html))
    saved = load(args.checkpoint)
    layer, signal = check_unit(args, saved)
    if args.text:
        passage, warmup, name = text_passage(args.text, saved)
    else:
        passage, warmup, name = corpus_passage(saved)
    try:
        if args.find_cells:
            print_cells(saved, passage, warmup, args.top)
        if args.unit is not None or args.html:
            shown = passage[: args.chars]
            after = passage[args.chars] if len(passage) > args.chars else None
            traced = probe(saved, shown, warmup, after)
            if args.unit is not None and not args.html:  # with --html, --unit colours the page
                print_unit(saved, traced, shown, layer, signal, args.unit, name)
            if args.html:
                write_html(Path(args.html), saved, traced, shown, layer, signal, args.unit, name)
    except BrokenPipeError:  # the reader (head, less) went away: nothing left to say
        return 0
    if not outputs:
        return open_view(saved, passage, warmup, name)
    return 0


# -- checking -----------------------------------------------------------------------------------


def check_options(args) -> None:
    """Numbers in range and options that belong together (UsageError otherwise)."""
    if args.top < 1:
        raise UsageError(f"--top must be at least 1 (got {args.top})")
    if not 1 <= args.chars <= PROBE_PASSAGE_CHARS:
        raise UsageError(
            f"--chars must be between 1 and {PROBE_PASSAGE_CHARS:,} (got {args.chars})"
        )
    if args.unit is not None and args.unit < 0:
        raise UsageError(f"--unit must not be negative (got {args.unit})")
    if args.layer is not None and args.layer < 0:
        raise UsageError(f"--layer must not be negative (got {args.layer})")
    if (args.layer is not None or args.signal is not None) and args.unit is None:
        raise UsageError("--layer and --signal choose the unit of --unit N; add --unit")


def load(path: str) -> SavedModel:
    """The checkpoint's model (UsageError saying what is wrong with the file)."""
    try:
        return load_model(path)
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None


def check_unit(args, saved: SavedModel) -> tuple[int, str]:
    """The layer and signal of --unit, checked against the model."""
    model = saved.model
    layer = 0 if args.layer is None else args.layer
    signal = args.signal or "h"
    if args.unit is None:
        return layer, signal
    if layer >= model.num_layers:
        raise UsageError(
            f"--layer {layer}: the model's layers are numbered 0 to {model.num_layers - 1}"
        )
    kind = model.cells[0].kind
    names = trace(model, saved.params, np.zeros(1, np.intp)).names  # what the cell reports
    if signal not in names:
        raise UsageError(
            f"--signal {signal}: this model's {kind} cells have {', '.join(names)} (c and the "
            "gates i f o g belong to an lstm, z r n to a gru)"
        )
    if args.unit >= model.hidden_size:
        raise UsageError(
            f"--unit {args.unit}: layers have {model.hidden_size} units, 0..{model.hidden_size - 1}"
        )
    return layer, signal


def check_html_target(path: Path) -> None:
    """Refuse a folder, a missing folder, or a file rnn-tui inspect did not write."""
    if path.is_dir():
        raise UsageError(f"--html {path} is a folder; name a file such as {path / 'neuron.html'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--html {path}: the folder {parent} does not exist")
    if path.exists() or path.is_symlink():
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                head = handle.read(4096) if path.is_file() else ""
        except OSError as exc:
            raise UsageError(f"--html {path}: cannot read it ({exc.strerror or exc})") from None
        if GENERATOR not in head:
            raise UsageError(
                f"--html {path} exists and was not written by rnn-tui inspect; refusing to "
                "overwrite it (choose another name)"
            )


# -- the passage ---------------------------------------------------------------------------------


def text_passage(path: str, saved: SavedModel) -> tuple[str, str, str]:
    """(passage, warm-up, name) of --text FILE: the file's text, no warm-up."""
    from ..screens.passage_dialog import PassageError, read_passage_file

    try:
        text = read_passage_file(path)
    except PassageError as exc:
        raise UsageError(f"--text {exc}") from None
    if not text:
        raise UsageError(f"--text {path} is empty")
    missing = sorted(set(text) - set(saved.vocab.chars))
    if missing:
        raise UsageError(
            f"--text {path}: {saved.vocab.describe_missing(missing)}; the model reads only the "
            "characters it was trained on"
        )
    return text, "", f"file {Path(path).name}"


def corpus_passage(saved: SavedModel) -> tuple[str, str, str]:
    """(passage, warm-up, name): the start of the checkpoint's validation text and the
    PROBE_WARMUP_CHARS before it, exactly as the run's weights copy (Trainer.weights_copy)
    gives them; without validation text, the end of the training text."""
    from rnn_tui.corpora import CorpusError, load_corpus

    meta = saved.meta
    name = meta.get("corpus_name") or ""
    if not name:
        raise UsageError(
            "the checkpoint does not say which text it was trained on; pass --text FILE"
        )
    try:
        corpus = load_corpus(name, min_length=2)
        if corpus.sha256 != meta.get("corpus_sha256") and corpus.boilerplate != (0, 0):
            whole = load_corpus(name, min_length=2, keep_boilerplate=True)
            corpus = whole if whole.sha256 == meta.get("corpus_sha256") else corpus
    except CorpusError as exc:
        raise UsageError(
            f"the text this checkpoint was trained on cannot be read ({exc}); pass --text FILE "
            "to probe a text of your own"
        ) from None
    try:
        ids = saved.vocab.encode(corpus.text).astype(np.intp)
    except VocabError:
        raise UsageError(
            f"{name} has changed since the checkpoint was written (it has characters the model "
            "never saw); pass --text FILE"
        ) from None
    if corpus.sha256 != meta.get("corpus_sha256"):
        from ..output import print_error

        print_error(
            f"{name} has changed since the checkpoint was written; probing it as it is now",
            "notice",
        )
    train, val = split_ids(ids, saved.config.val_fraction)
    if len(val):
        passage, start, what = val[:PROBE_PASSAGE_CHARS], len(train), "validation text"
    else:
        start = max(0, len(train) - PROBE_PASSAGE_CHARS)
        passage, what = train[start:], "end of the training text"
    warmup = train[max(0, start - PROBE_WARMUP_CHARS) : start]
    return saved.vocab.decode(passage), saved.vocab.decode(warmup), what


def probe(saved: SavedModel, text: str, warmup: str, after: str | None) -> Trace:
    """The trace of `text` from a zero state warmed on `warmup`."""
    vocab = saved.vocab
    return trace(
        saved.model,
        saved.params,
        vocab.encode(text).astype(np.intp),
        vocab.encode(warmup).astype(np.intp) if warmup else None,
        next_id=None if after is None else vocab.index[after],
    )


# -- the outputs ---------------------------------------------------------------------------------


def describe(saved: SavedModel) -> str:
    """'lstm 2×256 at step 12,345'."""
    model = saved.model
    step = int(saved.meta.get("step", 0))
    return f"{model.cells[0].kind} {model.num_layers}×{model.hidden_size} at step {step:,}"


def print_cells(saved: SavedModel, passage: str, warmup: str, top: int) -> None:
    """The finder's table: one row per line, layer, signal, unit, feature, r."""
    from rnn_tui.engine.finder import search_cells

    text = passage[:PROBE_PASSAGE_CHARS]
    vocab = saved.vocab
    warm = vocab.encode(warmup).astype(np.intp) if warmup else None
    matches = search_cells(saved.model, saved.params, text, vocab.encode(text), warm, top)
    out = sys.stdout
    out.write(f"{'layer':>5}  {'signal':<6}  {'unit':>4}  {'feature':<16}  {'r':>6}\n")
    for m in matches:
        out.write(f"{m.layer:>5}  {m.signal:<6}  {m.unit:>4}  {m.feature:<16}  {m.r:+.3f}\n")
    out.flush()


def unit_values(traced: Trace, layer: int, signal: str, unit: int | None) -> tuple[np.ndarray, str]:
    """(values, kind) the passage is coloured by: the unit scaled to [-1, 1], or the surprise."""
    if unit is None:
        from ..screens.readout import surprise

        return surprise(traced), "surprise"
    values = traced.signal(layer, signal)[:, unit] / traced.display_scale(signal, layer, unit)
    return np.clip(values, -1.0, 1.0), "activation"


def print_unit(saved, traced, text, layer, signal, unit, name) -> None:
    """The passage coloured by the unit: ANSI through rich on a terminal, the ramp otherwise."""
    from rich.console import Console

    from ..neuron_render import render_ansi, wants_colour
    from ..screens.readout import unit_label
    from ..widgets.heatmap import RAMP

    colour = wants_colour(sys.stdout)
    width = shutil.get_terminal_size((100, 24)).columns if colour else 100
    values, kind = unit_values(traced, layer, signal, unit)
    rows = render_ansi(text, values, width=width, color=colour, kind=kind)
    scale = traced.display_scale(signal, layer, unit)
    scaled = f", divided by {scale:.3g}" if scale != 1.0 else ""
    print(
        f"{unit_label(signal, layer, unit)} ({SIGNAL_DESCRIPTIONS[signal]}{scaled}) of "
        f"{describe(saved)}, {len(text):,} chars of the {name}"
    )
    if colour:
        console = Console(highlight=False, soft_wrap=True)
        for row in rows:
            console.print(row)
    else:
        print(f"ramp under each row: '{RAMP}' from -1 to +1")
        for row in rows:
            print(row.plain)


def write_html(path: Path, saved, traced, text, layer, signal, unit, name) -> None:
    """The self-contained page, written atomically (temporary file, then rename)."""
    from ..neuron_render import render_html
    from ..screens.readout import unit_label

    values, kind = unit_values(traced, layer, signal, unit)
    vocab = saved.vocab
    guesses = [[(vocab.chars[i], p) for i, p in traced.top_k(t, 5)] for t in range(len(text))]
    label = "surprise" if unit is None else unit_label(signal, layer, unit)
    page = render_html(
        text,
        values,
        guesses,
        title=f"rnn-tui · {label} · {describe(saved)} · {name}",
        unit_label=label,
        kind=kind,
    )
    page = page.replace('<meta charset="utf-8">', f'<meta charset="utf-8">\n{GENERATOR}', 1)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write --html {path}: {exc.strerror or exc}") from None
    print(f"wrote {path} ({len(text):,} characters coloured by {label})")


def open_view(saved: SavedModel, passage: str, warmup: str, name: str) -> int:
    """The neuron view on this terminal."""
    from ..screens.host import MicroscopeApp
    from ..screens.neuron import NeuronScreen
    from ..screens.subject import Passage, ProbeSubject

    samples = saved.meta.get("samples") or []
    subject = ProbeSubject(
        saved.model,
        saved.params,
        saved.vocab,
        int(saved.meta.get("step", 0)),
        Passage(passage, name, warmup),
        sample=str(samples[-1][1]) if samples else "",
        seed=saved.config.seed,
    )
    MicroscopeApp(NeuronScreen(subject)).run()
    return 0
