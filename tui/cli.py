"""The `rnn-tui` command: the dashboard (default), headless training, sampling and the catalogue.

    rnn-tui [CORPUS] [options]              open the dashboard and train (CORPUS: file, folder or name)
    rnn-tui train CORPUS --headless [...]   train without the dashboard, printing progress
    rnn-tui sample CHECKPOINT [...]         stream text from a checkpoint
    rnn-tui corpora                         list the catalogue and what is cached

Every bad argument or input ends in one line on stderr and exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from rnn_tui.engine import (
    CheckpointError,
    CheckpointFailed,
    Config,
    ConfigError,
    Trainer,
    VocabError,
    preset,
)
from rnn_tui.engine.allocator import retain_freed_memory
from rnn_tui.engine.config import LIVE_HPARAMS, PRESETS
from rnn_tui.engine.streams import StreamError

EXIT_USAGE = 2
EXIT_DIVERGED = 3

# Command-line option -> Config field, for options that shape the model or the run.
MODEL_OPTIONS = {
    "cell": str,
    "hidden_size": int,
    "num_layers": int,
    "seq_length": int,
    "batch_size": int,
    "optimizer": str,
    "dropout": float,
    "dtype": str,
    "clip_mode": str,
    "seed": int,
    "val_fraction": float,
}
BLAS_THREADS_FROM = 16384  # batch x hidden x gates at which a second BLAS thread starts to pay
LIVE_OPTIONS = {
    "learning_rate": float,
    "clip": float,
    "temperature": float,
    "sample_length": int,
    "sample_every": int,
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage dump) through UsageError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(
            f"{message} (see rnn-tui {self.prog.split()[-1] if ' ' in self.prog else ''}--help)".replace(
                "rnn-tui rnn-tui", "rnn-tui"
            )
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["sample"]:
            return sample_command(argv[1:])
        if argv[:1] == ["corpora"]:
            return corpora_command(argv[1:])
        if argv[:1] == ["train"]:
            argv = argv[1:]
        return train_command(argv)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C while loading or downloading, before training started
        _error("interrupted before training started; nothing was saved")
        return 130


def _error(message: str, kind: str = "error") -> None:
    """One line on stderr; a terminal that has gone away (dropped SSH link) is not an error."""
    with contextlib.suppress(OSError, ValueError):
        print(f"rnn-tui: {kind}: {message}", file=sys.stderr, flush=True)


class TolerantStream:
    """A text stream whose first write error (a closed terminal, a full disk) silences it for good.

    Training must never stop because its output cannot be shown or logged: `on_error` is told
    once, then writes are dropped.
    """

    def __init__(self, stream: Any, on_error: Any = None):
        self.stream = stream
        self.on_error = on_error
        self.failed: OSError | ValueError | None = None

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                self.stream.write(text)
            except (OSError, ValueError) as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._fail(exc)

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        try:
            self.stream.close()
        except (OSError, ValueError) as exc:
            if self.failed is None:
                self._fail(exc)

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, ...: as the wrapped stream
        return getattr(self.stream, name)

    def _fail(self, exc: OSError | ValueError) -> None:
        self.failed = exc
        if self.on_error is not None:
            self.on_error(exc)


# -- train ---------------------------------------------------------------------------------------


def train_parser() -> Parser:
    """Options of the dashboard and of headless training."""
    p = Parser(prog="rnn-tui", description="Watch a character-level RNN learn to write.")
    p.add_argument(
        "corpus",
        nargs="?",
        help="text file, folder of text files, or catalogue name (default: python)",
    )
    p.add_argument(
        "--headless", action="store_true", help="train without the dashboard, printing progress"
    )
    p.add_argument(
        "--preset", default="classic", help=f"model preset: {', '.join(PRESETS)} (default classic)"
    )
    p.add_argument("--cell", choices=["rnn", "lstm", "gru"])
    p.add_argument("--hidden-size", type=int)
    p.add_argument("--num-layers", type=int)
    p.add_argument("--seq-length", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--optimizer", choices=["adagrad", "adam", "sgd"])
    p.add_argument(
        "--clip", type=float, help="gradient clip value (or max norm with --clip-mode norm)"
    )
    p.add_argument("--clip-mode", choices=["value", "norm"])
    p.add_argument("--dropout", type=float)
    p.add_argument("--dtype", choices=["float64", "float32"])
    p.add_argument(
        "--val-fraction", type=float, help="held-out fraction at the end of the text (default 0.1)"
    )
    p.add_argument("--temperature", type=float, help="sampling temperature of the periodic samples")
    p.add_argument("--sample-length", type=int)
    p.add_argument("--sample-every", type=int, help="steps between periodic samples (0: never)")
    p.add_argument("--seed", type=int)
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--steps", type=int, help="stop after this many more steps")
    limit.add_argument("--minutes", type=float, help="stop after this many minutes of training")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    p.add_argument(
        "--checkpoint", metavar="PATH", help="where to save (default RUN_DIR/latest.npz)"
    )
    p.add_argument(
        "--run-dir",
        metavar="DIR",
        help="folder for checkpoints and logs (default runs/<corpus>, or the --resume file's folder)",
    )
    p.add_argument("--log-jsonl", metavar="PATH", help="append metrics as JSON lines (headless)")
    p.add_argument("--encoding", help="text encoding of the corpus (default utf-8)")
    p.add_argument(
        "--keep-newlines", action="store_true", help="keep CRLF/CR line endings as they are"
    )
    p.add_argument(
        "--corpus-dir",
        metavar="DIR",
        help="local folder with catalogue texts (or RNN_TUI_CORPUS_DIR)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="headless: print only the final line and errors"
    )
    p.add_argument(
        "--autosave-seconds",
        type=float,
        default=120.0,
        help="save a checkpoint this often while training (0: only at the end; default 120)",
    )
    p.add_argument(
        "--threads", type=int, help="BLAS threads (default: 1 for small models, else all cores)"
    )
    return p


def train_command(argv: list[str]) -> int:
    """Train on a corpus, in the dashboard or headless."""
    args = train_parser().parse_args(argv)
    _check_limits(args)
    if not args.headless and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "the dashboard needs an interactive terminal; add --headless to train in a script or pipe"
        )
    retain_freed_memory()  # steps reuse their arrays' memory instead of faulting it in again
    trainer, corpus_lines = build_trainer(args)
    if args.run_dir:
        run_dir = Path(args.run_dir)
    elif args.resume:  # a resumed run keeps saving beside the checkpoint it came from
        run_dir = Path(args.resume).parent
    else:
        run_dir = Path("runs") / _slug(trainer.corpus_name)
    checkpoint = Path(args.checkpoint) if args.checkpoint else run_dir / "latest.npz"
    _check_writable(checkpoint)
    if args.log_jsonl:
        _check_writable(Path(args.log_jsonl))
    trainer.checkpoint_path = checkpoint
    trainer.autosave_seconds = args.autosave_seconds
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads(trainer.config, args.threads), user_api="blas"):
        if args.headless:
            return run_headless(trainer, args, corpus_lines, checkpoint)
        return run_dashboard(trainer, corpus_lines, checkpoint, run_dir)


def blas_threads(config: Config, requested: int | None) -> int:
    """BLAS threads for this model: more threads only pay off for large matrix products.

    Waking a second thread for the classic model's (1 x 100) @ (100 x 100) products costs more than
    it saves (measured 2-5x slower on 2 cores), so small models run single-threaded.
    """
    import os

    if requested is not None:
        if requested < 1:
            raise UsageError(f"--threads must be at least 1 (got {requested})")
        return requested
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[config.cell]
    work = config.batch_size * config.hidden_size * gates
    return (os.cpu_count() or 1) if work >= BLAS_THREADS_FROM else 1


def run_dashboard(
    trainer: Trainer, corpus_lines: list[str], checkpoint: Path, run_dir: Path
) -> int:
    """Open the Textual dashboard on an interactive terminal."""
    from .app import make_app  # imported late: headless runs and errors need no Textual

    # Textual draws on sys.__stderr__ from a writer thread that dies on the first failed write;
    # after a dropped SSH link the app would then block forever on its full queue (possibly before
    # saving). Writes to a terminal that has gone away are dropped instead, so quitting completes.
    terminal = sys.__stderr__
    sys.__stderr__ = TolerantStream(terminal)
    try:
        app = make_app(
            trainer,
            checkpoint_path=checkpoint,
            corpus_lines=corpus_lines,
            metrics_log=run_dir / "metrics.jsonl",
        )
        message = app.run()
    finally:
        sys.__stderr__ = terminal
    if message:
        out = TolerantStream(sys.stdout)
        out.write(message + "\n")
        out.flush()
    return EXIT_DIVERGED if trainer.status == "diverged" else 0


def _check_limits(args: argparse.Namespace) -> None:
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be at least 1 (got {args.steps})")
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be positive (got {args.minutes})")
    if not args.autosave_seconds >= 0:
        raise UsageError(f"--autosave-seconds must be 0 or more (got {args.autosave_seconds})")


def build_trainer(args: argparse.Namespace) -> tuple[Trainer, list[str]]:
    """A fresh or resumed Trainer from the parsed options, and the corpus x-ray lines."""
    from rnn_tui.corpora import CorpusError, load_corpus, xray

    overrides = {
        k: getattr(args, k)
        for k in (*MODEL_OPTIONS, *LIVE_OPTIONS)
        if getattr(args, k, None) is not None
    }
    try:
        if args.resume:
            from rnn_tui.engine.checkpoint import read_meta

            meta = read_meta(args.resume)
            fixed = sorted(set(overrides) - set(LIVE_HPARAMS))
            if fixed:
                names = ", ".join("--" + f.replace("_", "-") for f in fixed)
                raise UsageError(
                    f"{names} cannot change when resuming (the checkpoint fixes the model); "
                    "drop them or start a new run"
                )
            spec = args.corpus or meta.get("corpus_name") or None
            seq_length = int(meta.get("config", {}).get("seq_length", 25))
        else:
            config = preset(args.preset).replace(**overrides)
            spec, seq_length = args.corpus, config.seq_length
        progress = bool(args.headless and sys.stderr.isatty())
        corpus = load_corpus(
            spec,
            encoding=args.encoding,
            keep_newlines=args.keep_newlines,
            corpus_dir=args.corpus_dir,
            min_length=seq_length + 2,
            progress=progress,
        )
        name = _corpus_spec(spec, corpus)
        if args.resume:
            trainer = Trainer.from_checkpoint(
                args.resume, corpus.text, corpus_name=name, corpus_sha256=corpus.sha256
            )
            live = {k: v for k, v in overrides.items() if k in LIVE_HPARAMS}
            if live:
                trainer.config = trainer.config.replace(**live)
        else:
            trainer = Trainer(config, corpus.text, corpus_name=name, corpus_sha256=corpus.sha256)
    except (CorpusError, CheckpointError, ConfigError, StreamError, VocabError) as exc:
        raise UsageError(str(exc)) from None
    return trainer, xray(corpus, trainer.model.param_count())


def _corpus_spec(spec: str | None, corpus: Any) -> str:
    """What to store in checkpoints so `--resume` alone finds the text again: a path or a name."""
    if spec is None:
        return "python"
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _slug(name: str) -> str:
    stem = Path(name).stem if ("/" in name or "." in name) else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "run"


def _check_writable(path: Path) -> None:
    """Fail early (before training) if a file could never be written there."""
    if path.exists() and path.is_dir():
        raise UsageError(f"{path} is a folder; give a file path")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: {parent} is not a folder")
    import os

    if not os.access(parent, os.W_OK):
        raise UsageError(
            f"cannot write {path}: {parent} is not writable; choose another --run-dir or --checkpoint"
        )


def run_headless(
    trainer: Trainer, args: argparse.Namespace, corpus_lines: list[str], checkpoint: Path
) -> int:
    """Train in this thread, print progress, save at the end and on Ctrl-C / SIGTERM / SIGHUP."""
    from rnn_tui.engine.headless import HeadlessReporter

    # A dropped SSH link or a closed pipe silences the output; it never stops training or saving.
    out = TolerantStream(sys.stdout)
    if not args.quiet:
        for line in corpus_lines:
            out.write(line + "\n")
        d = trainer.describe()
        out.write(
            f"model: {d['cell']} {d['num_layers']}x{d['hidden_size']}, {d['params']:,} parameters, "
            f"batch {d['batch_size']} x {d['seq_length']} chars, {d['optimizer']}, {d['dtype']}; "
            f"{d['train_chars']:,} training / {d['val_chars']:,} validation characters\n"
        )
        out.flush()
    log = None
    if args.log_jsonl:
        try:
            handle = open(args.log_jsonl, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write {args.log_jsonl}: {exc.strerror or exc}") from None

        def log_failed(exc: Exception) -> None:
            why = getattr(exc, "strerror", None) or exc
            _error(f"cannot write {args.log_jsonl} ({why}); training goes on without it", "warning")

        log = TolerantStream(handle, log_failed)
    reporter = HeadlessReporter(out, is_tty=out.isatty(), log=log, quiet=args.quiet)

    def publish(event: Any) -> None:
        if isinstance(event, CheckpointFailed):
            # A full or read-only disk: say so and keep training. A save refused because the
            # weights have diverged is not reported: the divergence line follows at once.
            if "diverged" not in event.error:
                _error(event.error)
        else:
            reporter(event)

    def request_stop(signum: int, frame: Any) -> None:
        trainer.stop()

    # The handlers stay until the final checkpoint is written: a second SIGHUP or SIGTERM (the
    # shell passing on a hang-up, say) must not kill the process in the middle of that save.
    stop_signals = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            stop_signals[sig] = signal.signal(sig, request_stop)
    try:
        max_steps = trainer.step_count + args.steps if args.steps else None
        max_seconds = args.minutes * 60 if args.minutes else None
        reason = trainer.run(publish, max_steps=max_steps, max_seconds=max_seconds)
        reporter.finish()
        if reason == "diverged":
            failure = reporter.failure.reason if reporter.failure else "training diverged"
            _error(divergence_advice(trainer, failure))
            return EXIT_DIVERGED
        result = trainer.try_save()
        if isinstance(result, CheckpointFailed):
            _error(result.error)
            return 1
        reporter(result)
        resume = f"rnn-tui --resume {shlex.quote(str(checkpoint))} --headless"
        out.write(f"resume with: {resume}\n")
        out.flush()
        return 0
    finally:
        for sig, handler in stop_signals.items():
            signal.signal(sig, handler)
        if log is not None:
            log.close()


def divergence_advice(trainer: Trainer, reason: str) -> str:
    """The divergence reason plus what to do: roll back with a lower rate, or start over."""
    rate = trainer.config.learning_rate / 10
    latest = trainer.checkpoint_path
    if latest is not None and latest.exists():
        # not above the rate the good checkpoint was trained with (the user may have raised it)
        with contextlib.suppress(CheckpointError, KeyError, TypeError, ValueError):
            from rnn_tui.engine.checkpoint import read_meta

            rate = min(rate, float(read_meta(latest)["config"]["learning_rate"]))
        lower = f"{rate:g}"
        roll_back = (
            f"rnn-tui --resume {shlex.quote(str(latest))} --learning-rate {lower} --headless"
        )
        return f"{reason}; the diverged weights were not saved; roll back with: {roll_back}"
    return (
        f"{reason}; nothing was saved; start again with a lower rate, e.g. --learning-rate {rate:g}"
    )


# -- sample --------------------------------------------------------------------------------------


def sample_parser() -> Parser:
    """Options of `rnn-tui sample`."""
    p = Parser(prog="rnn-tui sample", description="Generate text from a checkpoint.")
    p.add_argument("checkpoint")
    p.add_argument(
        "--prime", help="seed character or phrase (default: a newline, or the first character)"
    )
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--greedy", action="store_true", help="always pick the most likely character")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    return p


def sample_command(argv: list[str]) -> int:
    """Stream `length` characters generated after the prime."""
    import numpy as np

    from rnn_tui.engine.sampler import check_prime, generate
    from rnn_tui.engine.trainer import load_for_sampling

    args = sample_parser().parse_args(argv)
    if args.length < 1:
        raise UsageError(f"--length must be at least 1 (got {args.length})")
    if not args.temperature > 0:
        raise UsageError(f"--temperature must be positive (got {args.temperature})")
    if args.top_k < 0 or args.seed < 0:
        raise UsageError("--top-k and --seed must not be negative")
    try:
        model, params, vocab, _, _ = load_for_sampling(args.checkpoint)
        prime = (
            args.prime if args.prime is not None else ("\n" if "\n" in vocab else vocab.chars[0])
        )
        check_prime(prime, vocab)
    except (CheckpointError, VocabError) as exc:
        raise UsageError(str(exc)) from None
    rng = np.random.default_rng(args.seed)
    out = sys.stdout
    out.write(prime)
    try:
        for ch in generate(
            model,
            params,
            vocab,
            prime,
            args.length,
            rng,
            temperature=args.temperature,
            greedy=args.greedy,
            top_k=args.top_k,
        ):
            out.write(ch)
            out.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    out.write("\n")
    return 0


# -- corpora -------------------------------------------------------------------------------------


def corpora_command(argv: list[str]) -> int:
    """List the catalogue and what is cached."""
    from rnn_tui.corpora import format_catalogue

    p = Parser(prog="rnn-tui corpora", description="List the corpus catalogue.")
    p.add_argument("--corpus-dir", metavar="DIR")
    args = p.parse_args(argv)
    print(format_catalogue(args.corpus_dir))
    return 0


def run() -> None:
    """Console-script wrapper: exit with main()'s status."""
    status = main()
    _settle_output()
    sys.exit(status)


def _settle_output() -> None:
    """Flush stdout and stderr now; if the reader has gone (a closed pipe, a dropped terminal),
    point them at /dev/null so the interpreter's own final flush cannot fail with a traceback."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


if __name__ == "__main__":
    run()
