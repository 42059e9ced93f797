"""Runs on this machine: which folders hold a run, what each is, whether it is live, and which
one a command means.

`find_runs(root)` lists the run folders below `root`; `describe(run_dir)` says what one holds
(its checkpoint's corpus, model, step and best validation loss) and whether a process trains it
now (the run lock, engine/runlock.py: a killed process or a rebooted machine shows as stopped,
never as live); a live run that serves viewers is asked for its newest snapshot, so the step and
state are the live ones. `choose_run` turns `rnn-tui attach [RUN_DIR]` into one live, served run
or one line saying what to do; `offer_attach` is what `rnn-tui CORPUS` says when its run folder
is already in use.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnn_tui.engine import runlock
from rnn_tui.engine.checkpoint import CheckpointError, read_meta
from rnn_tui.engine.client import AttachError, probe
from rnn_tui.engine.server import socket_path

from .options import UsageError

DEFAULT_ROOT = Path("runs")
MAX_DEPTH = 4  # run folders are runs/<corpus>/ (or deeper with --run-dir): never the whole disk
LATEST = "latest.npz"
EXIT_USAGE = 2


@dataclass
class RunEntry:
    """One run folder, as `rnn-tui runs` shows it."""

    run_dir: str
    corpus: str | None
    model: str | None
    step: int | None
    best_val_loss: float | None
    last_checkpoint: str | None  # ISO time of latest.npz
    live: bool
    pid: int | None
    state: str  # running, paused, diverged (live); stopped; "live" when it serves no viewers
    serving: bool
    viewers: int | None
    command: str | None
    error: str | None = None  # why a live run with a socket could not be asked (another user's)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find_runs(root: Path) -> list[Path]:
    """Folders below `root` (and `root` itself) that hold a run: a checkpoint or a lock file."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    base = len(root.parts)
    for folder, subfolders, files in os.walk(root):
        path = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if len(path.parts) - base >= MAX_DEPTH:
            subfolders[:] = []
        if LATEST in files or runlock.LOCK_NAME in files:
            found.append(path)
    return found


def describe(run_dir: Path) -> RunEntry:
    """What `run_dir` holds and whether it is live (asking its server, when it has one)."""
    holder = runlock.owner(run_dir)
    live = bool(holder and holder.live)
    entry = RunEntry(
        run_dir=str(run_dir),
        corpus=None,
        model=None,
        step=None,
        best_val_loss=None,
        last_checkpoint=None,
        live=live,
        pid=holder.pid if live and holder else None,
        state="live" if live else "stopped",
        serving=False,
        viewers=None,
        command=holder.command if live and holder else None,
    )
    latest = run_dir / LATEST
    with contextlib.suppress(CheckpointError, OSError):
        meta = read_meta(latest)
        config = meta.get("config") or {}
        entry.corpus = meta.get("corpus_name") or None
        entry.model = _model(
            config.get("cell"), config.get("num_layers"), config.get("hidden_size")
        )
        entry.step = int(meta["step"])
        entry.best_val_loss = _best(run_dir, meta)
        stamp = latest.stat().st_mtime
        entry.last_checkpoint = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp))
    if live and socket_path(run_dir).exists():
        try:
            hello, info, snapshot = probe(run_dir)
        except AttachError as exc:
            entry.error = str(exc)
        else:
            entry.serving = True
            entry.corpus = entry.corpus or info.corpus or None
            entry.model = entry.model or _model(info.cell, info.num_layers, info.hidden_size)
            entry.viewers = hello.viewers - 1  # not counting this look
            entry.pid = hello.pid
            if snapshot is not None:
                entry.step = snapshot.step
                entry.state = snapshot.run_state
                if len(snapshot.val_curve):
                    best = float(snapshot.val_curve[:, 1].min())
                    old = entry.best_val_loss
                    entry.best_val_loss = best if old is None else min(old, best)
    return entry


def _model(cell: Any, layers: Any, hidden: Any) -> str | None:
    if not isinstance(cell, str):
        return None
    return f"{cell} {layers}x{hidden}"


def _best(run_dir: Path, meta: dict[str, Any]) -> float | None:
    """The lowest validation loss the run saved: the best checkpoint's, else the latest's."""
    values = [meta.get("val_loss")]
    with contextlib.suppress(CheckpointError, OSError):
        values.append(read_meta(run_dir / "latest-best.npz").get("val_loss"))
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return min(numbers) if numbers else None


def list_runs(root: Path = DEFAULT_ROOT) -> list[RunEntry]:
    """Every run below `root`, described."""
    return [describe(path) for path in find_runs(root)]


# -- which run a command means -----------------------------------------------------------------


def run_folder(given: str) -> Path:
    """A run folder from what a person typed: the folder, or its latest.npz."""
    path = Path(given).expanduser()
    if path.is_file() and path.suffix == ".npz":
        path = path.parent
    if not path.is_dir():
        raise UsageError(f"{given} is not a run folder; `rnn-tui runs` lists them")
    return path


def check_attachable(run_dir: Path) -> RunEntry:
    """The run of `run_dir` if a live process serves it, else UsageError saying what to do."""
    entry = describe(run_dir)
    if not entry.live:
        step = f" at step {entry.step:,}" if entry.step is not None else ""
        resume = (
            f"; resume it with: rnn-tui --resume {run_dir / LATEST}"
            if (run_dir / LATEST).exists()
            else ""
        )
        raise UsageError(f"{run_dir} is not training (stopped{step}){resume}")
    if entry.error:
        raise UsageError(entry.error)
    if not entry.serving:
        raise UsageError(
            f"{run_dir} is trained by process {entry.pid} (`{entry.command}`), which serves no "
            "viewers (a headless run without --serve); wait for it, or stop it and resume with "
            "--headless --serve"
        )
    return entry


def choose_run(given: str | None, root: Path = DEFAULT_ROOT, verb: str = "attach") -> Path:
    """The run a command means: `given`, or the only live served run below `root`; with several,
    a choice on a terminal, else one line naming them (UsageError)."""
    if given:
        path = run_folder(given)
        check_attachable(path)
        return path
    live = [entry for entry in list_runs(root) if entry.live and entry.serving]
    if not live:
        raise UsageError(
            f"no run is training below {root}/; start one with `rnn-tui CORPUS`, or name its "
            f"folder: rnn-tui {verb} RUN_DIR"
        )
    if len(live) == 1:
        return Path(live[0].run_dir)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        names = ", ".join(f"{e.run_dir} (process {e.pid})" for e in live)
        raise UsageError(
            f"{len(live)} runs are live below {root}/: {names}; name one: rnn-tui {verb} RUN_DIR"
        )
    print(f"{len(live)} runs are live below {root}/:")
    for number, entry in enumerate(live, 1):
        step = f"step {entry.step:,}" if entry.step is not None else "step ?"
        print(
            f"  {number}. {entry.run_dir}  {entry.corpus or '?'}  {entry.model or '?'}  {step}  {entry.state}"
        )
    try:
        answer = input(f"{verb} to which? [1-{len(live)}] ").strip()
    except EOFError:
        answer = ""
    if not (answer.isdigit() and 1 <= int(answer) <= len(live)):
        raise UsageError(f"no run chosen; name one: rnn-tui {verb} RUN_DIR")
    return Path(live[int(answer) - 1].run_dir)


def shown(path: Path) -> Path:
    """A path as a person would type it here: relative to the working folder when inside it."""
    with contextlib.suppress(ValueError, OSError):
        return path.resolve().relative_to(Path.cwd().resolve())
    return path


def offer_attach(run_dir: Path, why: str, interactive: bool) -> int:
    """`rnn-tui CORPUS` found its run folder in use: offer to attach when the run serves viewers
    (on a terminal: ask; otherwise one line and exit 2); otherwise say who is in the way."""
    run_dir = shown(run_dir)
    entry = describe(run_dir)
    if not (entry.live and entry.serving):
        raise UsageError(why)
    step = f", step {entry.step:,}" if entry.step is not None else ""
    line = (
        f"{run_dir} is already training (process {entry.pid}{step}, {entry.state}); a second "
        "writer would spoil it"
    )
    hint = f"rnn-tui attach {run_dir}"
    if not (interactive and sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(f"{line}; watch it with: {hint}")
    print(line + ".")
    try:
        answer = input("Attach to it instead? [Y/n] ").strip().lower()
    except EOFError:
        answer = "n"
    if answer not in ("", "y", "yes"):
        print(f"Nothing started. Watch it any time with: {hint}")
        return EXIT_USAGE
    from .subcommands import attach

    return attach.main([str(run_dir)])
