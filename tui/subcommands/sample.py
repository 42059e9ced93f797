"""`rnn-tui sample CHECKPOINT`: stream text generated from a checkpoint (no corpus needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from rnn_tui.engine import CheckpointError, VocabError, load_model
from rnn_tui.engine.sampler import check_prime, generate

from ..options import Parser, UsageError

SUMMARY = "generate text from a checkpoint"
EXAMPLE = 'rnn-tui sample runs/kafka/latest.npz --prime "Gregor" --length 500 --temperature 0.8'
MAX_PRIME_BYTES = 1 << 20


def parser(prog: str = "rnn-tui sample") -> Parser:
    """Options of `rnn-tui sample`."""
    p = Parser(prog=prog, description="Generate text from a checkpoint.")
    p.add_argument("checkpoint", help="a checkpoint file (.npz) written by rnn-tui")
    prime = p.add_mutually_exclusive_group()
    prime.add_argument(
        "--prime", help="seed character or phrase (default: a newline, or the first character)"
    )
    prime.add_argument(
        "--prime-file", metavar="PATH", help="read the seed phrase from a text file (UTF-8)"
    )
    p.add_argument("--length", type=int, default=500, help="characters to generate (default 500)")
    p.add_argument(
        "--num-samples",
        type=int,
        default=1,
        help="how many samples, one after the other (default 1)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="lower is safer, higher is wilder (default 1)",
    )
    p.add_argument("--greedy", action="store_true", help="always pick the most likely character")
    p.add_argument(
        "--top-k", type=int, default=0, help="draw only from the k likeliest characters (0: all)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--step",
        action="store_true",
        help="step through on a terminal: see the candidates, draw, pick or force each "
        "character, undo (the same seed draws the same text as without --step)",
    )
    return p


def read_prime_file(path: str) -> str:
    """The seed phrase stored in a file (UsageError if it cannot be used)."""
    file = Path(path)
    try:
        if not file.is_file():
            raise UsageError(f"--prime-file {path}: no such file (or not a regular file)")
        if file.stat().st_size > MAX_PRIME_BYTES:
            raise UsageError(f"--prime-file {path} is larger than {MAX_PRIME_BYTES:,} bytes")
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --prime-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--prime-file {path} is not UTF-8 text") from None


def main(argv: list[str], prog: str = "rnn-tui sample") -> int:
    """Stream `length` characters generated after the prime, `num_samples` times."""
    args = parser(prog).parse_args(argv)
    if args.length < 1:
        raise UsageError(f"--length must be at least 1 (got {args.length})")
    if args.num_samples < 1:
        raise UsageError(f"--num-samples must be at least 1 (got {args.num_samples})")
    if not args.temperature > 0:
        raise UsageError(f"--temperature must be positive (got {args.temperature})")
    if args.top_k < 0 or args.seed < 0:
        raise UsageError("--top-k and --seed must not be negative")
    if args.step:
        check_step(args)
    prime = read_prime_file(args.prime_file) if args.prime_file else args.prime
    try:
        saved = load_model(args.checkpoint)
        vocab = saved.vocab
        if prime is None:
            prime = "\n" if "\n" in vocab else vocab.chars[0]
        check_prime(prime, vocab)
    except (CheckpointError, VocabError) as exc:
        raise UsageError(str(exc)) from None
    if args.step:
        return step_through(saved, prime, args)
    rng = np.random.default_rng(args.seed)
    out = sys.stdout
    try:
        for number in range(args.num_samples):
            if number:
                out.write("\n")
            out.write(prime)
            for ch in generate(
                saved.model,
                saved.params,
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
            out.write("\n")
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    return 0


def check_step(args) -> None:
    """--step is a screen: it needs a terminal, and generates one sample by hand."""
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "--step needs an interactive terminal (you steer it key by key); drop --step to "
            "stream the text in a script or pipe"
        )
    if args.num_samples != 1 or args.greedy:
        raise UsageError("--step makes one sample by hand: drop --num-samples and --greedy")


def step_through(saved, prime: str, args) -> int:
    """The step-through sampler on this terminal, seeded as the streamed sample would be."""
    from ..screens.host import MicroscopeApp
    from ..screens.stepper import StepperScreen

    model = saved.model
    step = int(saved.meta.get("step", 0))
    screen = StepperScreen(
        model,
        saved.params,
        saved.vocab,
        prime,
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        describe=f"{model.cells[0].kind} {model.num_layers}×{model.hidden_size} · step {step:,}",
    )
    MicroscopeApp(screen).run()
    return 0
