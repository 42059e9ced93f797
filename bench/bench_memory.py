"""Peak memory (maximum resident set size) of headless training and of loading a large corpus.

    python bench/bench_memory.py                     # lstm preset, 100 steps; a 100 MB corpus
    python bench/bench_memory.py --steps 300 --corpus-mb 200

Each measurement runs in a fresh Python subprocess and reports that process's
`resource.getrusage(RUSAGE_SELF).ru_maxrss` (kilobytes on Linux), so one phase's peak never hides
another's:

    imports       python + numpy + the engine, nothing else (the floor under every other line)
    train         headless Trainer.run of the preset on tinyshakespeare for --steps steps,
                  periodic validation and samples included as configured by the preset
    load          reading a generated --corpus-mb MB text file (corpora.load_corpus when the
                  corpora package is importable, else a plain UTF-8 read)
    load+encode   the same, then Vocab.from_text + encode (what the Trainer does with the text)
    load+trainer  the same, then a Trainer on it (ids, split, model, optimiser) and 5 steps
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "tinyshakespeare.txt"

PRELUDE = """
import json, resource, sys, time
import numpy as np
import rnn_tui.engine
from rnn_tui.engine import Trainer, Vocab, preset
from rnn_tui.engine.allocator import retain_freed_memory
retain_freed_memory()  # as `rnn-tui train` does
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def load(path):
    try:
        from rnn_tui.corpora import load_corpus
    except ImportError:
        return open(path, encoding="utf-8").read(), "plain read"
    return load_corpus(path).text, "corpora.load_corpus"
"""

PHASES = {
    "imports": "out = {}",
    "train": """
text = open(CORPUS, encoding="utf-8").read()
cfg = preset(PRESET)
trainer = Trainer(cfg, text)
t0 = time.perf_counter()
trainer.run(lambda e: None, max_steps=STEPS)
out = {"steps": trainer.step_count, "seconds": round(time.perf_counter() - t0, 1),
       "val_every": cfg.val_every, "params": trainer.model.param_count()}
""",
    "load": """
text, how = load(BIG)
out = {"chars": len(text), "how": how}
""",
    "load+encode": """
text, how = load(BIG)
vocab = Vocab.from_text(text)
ids = vocab.encode(text)
out = {"chars": len(text), "how": how, "ids_dtype": str(ids.dtype), "vocab": len(vocab)}
""",
    "load+trainer": """
text, how = load(BIG)
trainer = Trainer(preset(PRESET).replace(val_every=0, sample_every=0), text)
trainer.run(lambda e: None, max_steps=5)
out = {"chars": len(text), "how": how}
""",
}


def run_phase(name: str, values: dict) -> dict:
    """Run one phase in a fresh interpreter; its JSON result plus peak_mb."""
    assignments = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    ending = "\nout['peak_mb'] = round(peak_mb(), 1)\nprint(json.dumps(out))\n"
    code = PRELUDE + assignments + "\n" + textwrap.dedent(PHASES[name]) + ending
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {
            "error": done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_big_corpus(source: Path, folder: Path, megabytes: float) -> Path:
    """A text file of about `megabytes` MB: the source repeated (or pseudo-text if it is missing)."""
    if source.is_file():
        chunk = source.read_text(encoding="utf-8")
    else:
        chunk = "The quick brown fox jumps over the lazy dog.\n" * 20_000
    target = int(megabytes * 1_000_000)
    path = folder / "big.txt"
    with path.open("w", encoding="utf-8") as handle:
        written = 0
        while written < target:
            piece = chunk[: target - written]
            handle.write(piece)
            written += len(piece.encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="lstm")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--corpus-mb", type=float, default=100.0)
    args = p.parse_args(argv)
    if not args.corpus.is_file():
        print(f"corpus {args.corpus} not found; pass --corpus")
        return 2
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M')}; python {sys.version.split()[0]}; preset {args.preset}"
    )
    values = {"CORPUS": str(args.corpus), "PRESET": args.preset, "STEPS": args.steps}
    results = {}
    for name in ("imports", "train"):
        results[name] = run_phase(name, values)
        print(f"  {name:13s} {json.dumps(results[name])}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        big = make_big_corpus(args.corpus, Path(tmp), args.corpus_mb)
        size_mb = big.stat().st_size / 1e6
        print(f"  generated corpus: {size_mb:.1f} MB", flush=True)
        values["BIG"] = str(big)
        for name in ("load", "load+encode", "load+trainer"):
            results[name] = run_phase(name, values)
            print(f"  {name:13s} {json.dumps(results[name])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
