"""Rerun the headline benchmarks and rewrite their blocks in README.md and docs/*.md in place.

A block is what lies between `<!-- measured: NAME -->` and `<!-- end measured -->` in a page.
For each benchmark NAME the script runs its command(s), renders the output (verbatim in a code
block, or as a table), and heads the block with the command, the commit (with "+ uncommitted
changes" when the tracked files differ from it), the date and time (UTC) and the load average
before and after, so every number in it says where it came from. Text outside the blocks is
never touched, and a benchmark whose block is missing from its page is an error.

    python bench/refresh_docs.py                      # every benchmark: about 25 minutes
    python bench/refresh_docs.py --only builtin_corpus
    python bench/refresh_docs.py --only classic --only floor
    python bench/refresh_docs.py --list

Run it on an otherwise idle machine at the end of a piece of work: the numbers are the code's
as it stands, and other processes on the two cores change them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import REPO

BEGIN = "<!-- measured: {name} -->"
END = "<!-- end measured -->"
BLOCK = re.compile(
    r"(<!-- measured: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end measured -->)", re.S
)


@dataclass
class Run:
    """What one refresh measured: the outputs of the commands and where and when."""

    outputs: list[str]
    commit: str
    date: str
    load_before: float
    load_after: float


@dataclass(frozen=True)
class Benchmark:
    """A headline benchmark: its commands (argv after `python`), the pages holding its block,
    and how its outputs become the block (given the run and the block's current body)."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    pages: tuple[str, ...]
    minutes: float  # about how long it takes
    render: Callable[[Run, str], str] | None = None  # None: the output verbatim


def shown(command: tuple[str, ...]) -> str:
    """The command as a person types it ({json} is the result file the script reads back)."""
    return "python " + " ".join(command).replace("{json}", "RESULT.jsonl")


def provenance(benchmark: Benchmark, run: Run) -> str:
    commands = "; ".join(f"`{shown(c)}`" for c in benchmark.commands)
    return (
        f"Measured by {commands} at commit `{run.commit}` on {run.date}, "
        f"load average {run.load_before:.2f} before and {run.load_after:.2f} after (2 shared cores)."
    )


def verbatim(run: Run, _old: str) -> str:
    return "\n\n".join("```\n" + output.strip() + "\n```" for output in run.outputs)


PRESETS = ("classic", "small", "lstm", "gru")


def presets_table(run: Run, old: str) -> str:
    """README's presets table: the model column kept from the old block, speed and quality new.

    Each output is bench_quality.py's JSON line (--json) for one preset, in PRESETS order."""
    models = dict(re.findall(r"^\| `(\w+)` \| (.*?) \|", old, re.M))
    results = [json.loads(output.strip().splitlines()[-1]) for output in run.outputs]
    best = min(r["val_loss_nats"] for r in results)
    rows = ["| preset | model | speed | 5-minute quality |", "|---|---|---:|---:|"]
    for r in results:
        quality = f"{r['val_loss_nats']:.3f} nats/char"
        if r["val_loss_nats"] == best:
            quality = f"**{quality}**"
        speed = f"~{r['chars_per_s'] / 1000:.0f}k chars/s"
        rows.append(f"| `{r['preset']}` | {models.get(r['preset'], '')} | {speed} | {quality} |")
    return "\n".join(rows)


BENCHMARKS = [
    Benchmark(
        "builtin_corpus",
        (("bench/bench_builtin_corpus.py",),),
        ("docs/benchmarks.md",),
        0.2,
    ),
    Benchmark(
        "classic", (("bench/bench_classic.py", "--repeats", "7"),), ("docs/benchmarks.md",), 1
    ),
    Benchmark("floor", (("bench/bench_floor.py",),), ("docs/benchmarks.md",), 2),
    Benchmark(
        "tui_bandwidth",
        (("bench/bench_tui_bandwidth.py", "--seconds", "30"),),
        ("docs/dashboard.md",),
        1,
    ),
    Benchmark(
        "tui_throughput",
        (("bench/bench_tui_throughput.py", "--seconds", "3", "--rounds", "20"),),
        ("docs/dashboard.md",),
        2.5,
    ),
    Benchmark(
        "presets",
        tuple(
            ("bench/bench_quality.py", "--preset", name, "--minutes", "5", "--json", "{json}")
            for name in PRESETS
        ),
        ("README.md",),
        22,
        presets_table,
    ),
]


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def current_commit() -> str:
    dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    return git("rev-parse", "--short", "HEAD").strip() + (" + uncommitted changes" if dirty else "")


def measure(benchmark: Benchmark) -> Run:
    """Run the benchmark's commands one after the other; a failing command stops the refresh."""
    commit, load_before = current_commit(), os.getloadavg()[0]
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    outputs = []
    for command in benchmark.commands:
        with tempfile.TemporaryDirectory() as tmp:
            json_path = Path(tmp) / "result.jsonl"
            argv = [arg.replace("{json}", str(json_path)) for arg in command]
            print(f"running {shown(command)}", file=sys.stderr, flush=True)
            result = subprocess.run(
                [sys.executable, *argv], cwd=REPO, capture_output=True, text=True
            )
            if result.returncode != 0:
                raise SystemExit(f"{shown(command)} failed ({result.returncode}):\n{result.stderr}")
            outputs.append(json_path.read_text() if json_path.exists() else result.stdout)
    return Run(outputs, commit, date, load_before, os.getloadavg()[0])


def block(benchmark: Benchmark, run: Run, old_body: str) -> str:
    render = benchmark.render or verbatim
    return f"{provenance(benchmark, run)}\n\n{render(run, old_body)}\n"


def rewrite(text: str, benchmark: Benchmark, run: Run, page: str) -> str:
    """`text` with every block of this benchmark replaced (at least one must exist)."""
    found = 0

    def replace(match: re.Match) -> str:
        nonlocal found
        if match["name"] != benchmark.name:
            return match[0]
        found += 1
        return match[1] + block(benchmark, run, match["body"]) + match[4]

    new = BLOCK.sub(replace, text)
    if not found:
        raise SystemExit(f"{page} has no {BEGIN.format(name=benchmark.name)} ... {END} block")
    return new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="a benchmark's name (repeat)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    names = {b.name for b in BENCHMARKS}
    unknown = sorted(set(args.only) - names)
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(sorted(names))}"
        )
    if args.list:
        for b in BENCHMARKS:
            commands = "; ".join(shown(c) for c in b.commands)
            print(f"{b.name:15} ~{b.minutes:g} min  {', '.join(b.pages):20} {commands}")
        return 0
    for benchmark in [b for b in BENCHMARKS if not args.only or b.name in args.only]:
        run = measure(benchmark)
        for page in benchmark.pages:
            path = REPO / page
            path.write_text(
                rewrite(path.read_text(encoding="utf-8"), benchmark, run, page), encoding="utf-8"
            )
            print(f"{benchmark.name}: rewrote its block in {page}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
