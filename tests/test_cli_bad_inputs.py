"""Every bad input to the `rnn-tui` command ends in one line on stderr and exit status 2.

Table-driven: each case runs the real command in a subprocess (cwd = a scratch folder holding
the fixture files) and checks the exit status, that stderr is exactly one line starting with
`rnn-tui: error:`, that it says the right thing, that there is no traceback and nothing on
stdout, and that no file or folder in the scratch tree was created, modified or deleted.

The cases run concurrently (a few at a time) in one fixture, then each case is its own test.
`python tests/test_cli_bad_inputs.py` prints the table of cases and messages as Markdown, and
`python tests/test_cli_bad_inputs.py --write` puts it (and the number of cases) into
docs/reliability.md. A test compares the docs with what the cases print, so whoever adds or
changes a case (or a message) runs `--write` and commits the docs with it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

from rnn_tui.engine import Config, Trainer  # noqa: E402
from rnn_tui.engine.checkpoint import FORMAT_VERSION  # noqa: E402

NO_NETWORK = "http://127.0.0.1:9/kafka.txt"  # the discard port: a download fails at once


@dataclass(frozen=True)
class Case:
    """One bad invocation: the arguments, extra environment, and words the message must contain."""

    id: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    what: str = ""  # what the user did, for the docs table


T = ("train", "--headless", "--steps", "5")  # a headless run that would be short if it started

CASES = [
    # -- the corpus ------------------------------------------------------------------------
    Case(
        "missing-file",
        ("train", "nope.txt", "--headless"),
        ("no such file", "nope.txt"),
        what="a corpus file that does not exist",
    ),
    Case(
        "folder-without-text",
        ("train", "blobs", "--headless"),
        ("no text files",),
        what="a folder holding only binary files",
    ),
    Case("empty-file", ("train", "empty.txt", "--headless"), ("empty",), what="an empty file"),
    Case(
        "whitespace-only",
        ("train", "spaces.txt", "--headless"),
        ("only whitespace",),
        what="a file of spaces and newlines",
    ),
    Case(
        "one-distinct-char",
        ("train", "aaaa.txt", "--headless"),
        ("one distinct character",),
        what="a file of one repeated character",
    ),
    Case("binary-file", ("train", "image.png", "--headless"), ("binary",), what="a binary file"),
    Case(
        "invalid-utf8",
        ("train", "latin1.txt", "--headless"),
        ("not valid UTF-8", "--encoding"),
        what="Latin-1 bytes read as UTF-8",
    ),
    Case(
        "unknown-encoding",
        (*T, "corpus.txt", "--encoding", "klingon"),
        ("klingon",),
        what="`--encoding klingon`",
    ),
    Case(
        "unknown-catalogue-name",
        ("train", "kafak", "--headless"),
        ("kafka",),
        what="a misspelt catalogue name",
    ),
    Case(
        "text-too-short-for-batch",
        (*T, "short.txt", "--batch-size", "64"),
        ("too few", "batch_size"),
        what="a 300-character text with `--batch-size 64`",
    ),
    # -- option values ------------------------------------------------------------------------
    Case(
        "hidden-size-0",
        (*T, "corpus.txt", "--hidden-size", "0"),
        ("hidden_size",),
        what="`--hidden-size 0`",
    ),
    Case(
        "hidden-size-negative",
        (*T, "corpus.txt", "--hidden-size", "-5"),
        ("hidden_size",),
        what="`--hidden-size -5`",
    ),
    Case(
        "hidden-size-not-a-number",
        (*T, "corpus.txt", "--hidden-size", "abc"),
        ("--hidden-size", "abc"),
        what="`--hidden-size abc`",
    ),
    Case(
        "learning-rate-negative",
        (*T, "corpus.txt", "--learning-rate", "-1"),
        ("learning_rate",),
        what="`--learning-rate -1`",
    ),
    Case(
        "learning-rate-nan",
        (*T, "corpus.txt", "--learning-rate", "nan"),
        ("learning_rate",),
        what="`--learning-rate nan`",
    ),
    Case(
        "learning-rate-inf",
        (*T, "corpus.txt", "--learning-rate", "inf"),
        ("learning_rate",),
        what="`--learning-rate inf`",
    ),
    Case(
        "seq-length-0",
        (*T, "corpus.txt", "--seq-length", "0"),
        ("seq_length",),
        what="`--seq-length 0`",
    ),
    Case(
        "batch-size-0",
        (*T, "corpus.txt", "--batch-size", "0"),
        ("batch_size",),
        what="`--batch-size 0`",
    ),
    Case(
        "steps-0",
        ("train", "corpus.txt", "--headless", "--steps", "0"),
        ("--steps",),
        what="`--steps 0`",
    ),
    Case(
        "minutes-negative",
        ("train", "corpus.txt", "--headless", "--minutes", "-1"),
        ("--minutes",),
        what="`--minutes -1`",
    ),
    Case(
        "steps-and-minutes",
        (*T, "corpus.txt", "--minutes", "1"),
        ("not allowed with",),
        what="both `--steps` and `--minutes`",
    ),
    Case(
        "dropout-1.5", (*T, "corpus.txt", "--dropout", "1.5"), ("dropout",), what="`--dropout 1.5`"
    ),
    Case(
        "val-fraction-0.9",
        (*T, "corpus.txt", "--val-fraction", "0.9"),
        ("val_fraction",),
        what="`--val-fraction 0.9`",
    ),
    Case(
        "temperature-0",
        (*T, "corpus.txt", "--temperature", "0"),
        ("temperature",),
        what="`--temperature 0`",
    ),
    Case(
        "autosave-negative",
        (*T, "corpus.txt", "--autosave-seconds", "-1"),
        ("--autosave-seconds",),
        what="`--autosave-seconds -1`",
    ),
    Case(
        "autosave-nan",
        (*T, "corpus.txt", "--autosave-seconds", "nan"),
        ("--autosave-seconds",),
        what="`--autosave-seconds nan`",
    ),
    Case("threads-0", (*T, "corpus.txt", "--threads", "0"), ("--threads",), what="`--threads 0`"),
    Case(
        "unknown-option",
        (*T, "corpus.txt", "--frobnicate"),
        ("--frobnicate",),
        what="an unknown option",
    ),
    Case(
        "unknown-preset",
        (*T, "corpus.txt", "--preset", "huge"),
        ("preset", "huge"),
        what="`--preset huge`",
    ),
    Case(
        "unknown-cell",
        (*T, "corpus.txt", "--cell", "transformer"),
        ("--cell",),
        what="`--cell transformer`",
    ),
    # -- where to write ------------------------------------------------------------------------
    Case(
        "checkpoint-is-a-folder",
        (*T, "corpus.txt", "--checkpoint", "blobs"),
        ("folder",),
        what="`--checkpoint` naming an existing folder",
    ),
    Case(
        "run-dir-below-a-file",
        (*T, "corpus.txt", "--run-dir", "corpus.txt/run"),
        ("not a folder",),
        what="`--run-dir` below a regular file",
    ),
    Case(
        "log-is-a-folder",
        (*T, "corpus.txt", "--log-jsonl", "blobs"),
        ("folder",),
        what="`--log-jsonl` naming a folder",
    ),
    # -- resuming -------------------------------------------------------------------------------
    Case(
        "resume-missing",
        (*T, "--resume", "ckpt/missing.npz"),
        ("does not exist",),
        what="`--resume` of a file that does not exist",
    ),
    Case(
        "resume-folder", (*T, "--resume", "ckpt"), ("is a folder",), what="`--resume` of a folder"
    ),
    Case(
        "resume-truncated",
        (*T, "--resume", "ckpt/truncated.npz"),
        ("not a valid .npz",),
        what="`--resume` of a truncated checkpoint",
    ),
    Case(
        "resume-random-bytes",
        (*T, "--resume", "ckpt/random.npz"),
        ("not a valid .npz",),
        what="`--resume` of random bytes",
    ),
    Case(
        "resume-newer-format",
        (*T, "--resume", "ckpt/newer.npz"),
        ("newer rnn-tui", "upgrade"),
        what="`--resume` of a checkpoint from a newer format version",
    ),
    Case(
        "resume-other-corpus",
        (*T, "other.txt", "--resume", "ckpt/good.npz"),
        ("different text",),
        what="`--resume` with a different corpus",
    ),
    Case(
        "resume-corpus-edited",
        (*T, "--resume", "ckpt/edited.npz"),
        ("different text",),
        what="`--resume` after the run's corpus file was edited",
    ),
    Case(
        "resume-corpus-deleted",
        (*T, "--resume", "ckpt/orphan.npz"),
        ("no such file",),
        what="`--resume` after the run's corpus file was deleted",
    ),
    Case(
        "resume-with-hidden-size",
        (*T, "--resume", "ckpt/good.npz", "--hidden-size", "32"),
        ("--hidden-size", "cannot change"),
        what="`--resume` with `--hidden-size`",
    ),
    Case(
        "resume-object-array",
        (*T, "--resume", "ckpt/pickled.npz"),
        ("dtype",),
        what="`--resume` of a checkpoint holding a pickled object array",
    ),
    Case(
        "resume-absurd-size",
        (*T, "--resume", "ckpt/absurd.npz"),
        ("far more than",),
        what="`--resume` of a checkpoint whose settings claim gigabytes",
    ),
    # -- sample -------------------------------------------------------------------------------------
    Case(
        "sample-missing",
        ("sample", "ckpt/missing.npz"),
        ("does not exist",),
        what="`sample` of a missing checkpoint",
    ),
    Case(
        "sample-corrupt",
        ("sample", "ckpt/random.npz"),
        ("not a valid .npz",),
        what="`sample` of a corrupt checkpoint",
    ),
    Case(
        "sample-prime-not-in-vocab",
        ("sample", "ckpt/good.npz", "--prime", "Zebra€"),
        ("not in the vocabulary",),
        what="`sample --prime` with characters the model never saw",
    ),
    Case(
        "sample-length-0",
        ("sample", "ckpt/good.npz", "--length", "0"),
        ("--length",),
        what="`sample --length 0`",
    ),
    Case(
        "sample-temperature-0",
        ("sample", "ckpt/good.npz", "--temperature", "0"),
        ("--temperature",),
        what="`sample --temperature 0`",
    ),
    Case(
        "sample-top-k-negative",
        ("sample", "ckpt/good.npz", "--top-k", "-1"),
        ("--top-k",),
        what="`sample --top-k -1`",
    ),
    # -- environment ------------------------------------------------------------------------------
    Case(
        "corpus-dir-env-missing",
        ("train", "kafka", "--headless"),
        ("RNN_TUI_CORPUS_DIR",),
        env={"RNN_TUI_CORPUS_DIR": "no-such-folder"},
        what="`RNN_TUI_CORPUS_DIR` naming a missing folder (`rnn-tui kafka`)",
    ),
    Case(
        "download-fails",
        ("train", "kafka", "--headless"),
        ("could not download",),
        what="`rnn-tui kafka` with no cached copy and no network",
    ),
    Case(
        "download-timeout-env",
        ("train", "kafka", "--headless"),
        ("RNN_TUI_DOWNLOAD_TIMEOUT",),
        env={"RNN_TUI_DOWNLOAD_TIMEOUT": "soon"},
        what="`RNN_TUI_DOWNLOAD_TIMEOUT=soon`",
    ),
    Case(
        "dashboard-without-terminal",
        ("corpus.txt",),
        ("interactive terminal", "--headless"),
        what="the dashboard (no `--headless`) with output to a pipe",
    ),
    # -- round two: never another's file, no endless input ---------------------------------------
    Case(
        "checkpoint-is-the-corpus",
        (*T, "corpus.txt", "--checkpoint", "corpus.txt"),
        ("refusing to overwrite", "not an rnn-tui checkpoint"),
        what="`--checkpoint` naming the corpus itself",
    ),
    Case(
        "checkpoint-is-a-device",
        (*T, "corpus.txt", "--checkpoint", "zero.npz"),
        ("character device",),
        what="`--checkpoint` naming a link to /dev/zero",
    ),
    Case(
        "checkpoint-is-a-fifo",
        (*T, "corpus.txt", "--checkpoint", "pipe"),
        ("named pipe",),
        what="`--checkpoint` naming a named pipe",
    ),
    Case(
        "corpus-is-a-fifo",
        ("train", "pipe", "--headless"),
        ("named pipe",),
        what="a named pipe with no writer as the corpus",
    ),
    Case(
        "corpus-is-dev-zero",
        ("train", "zero.txt", "--headless"),
        ("character device",),
        what="a link to /dev/zero as the corpus",
    ),
    Case(
        "corpus-dangling-link",
        ("train", "dangling.txt", "--headless"),
        ("symbolic link", "does not exist"),
        what="a dangling symbolic link as the corpus",
    ),
    Case(
        "resume-of-a-device",
        (*T, "--resume", "zero.npz"),
        ("character device",),
        what="`--resume` of a link to /dev/zero",
    ),
    Case(
        "resume-negative-step",
        (*T, "--resume", "ckpt/negative.npz"),
        ("counters", "step"),
        what="`--resume` of a checkpoint claiming step -5",
    ),
    Case(
        "resume-with-preset",
        (*T, "--resume", "ckpt/good.npz", "--preset", "lstm"),
        ("--preset", "cannot change"),
        what="`--resume` with `--preset`",
    ),
    Case(
        "run-dir-that-takes-no-files",
        (*T, "corpus.txt", "--run-dir", "/proc/rnn-tui-run"),
        ("does not accept new files",),
        what="`--run-dir` in /proc (a folder that can hold no files)",
    ),
    Case(
        "more-memory-than-the-machine",
        (*T, "corpus.txt", "--cell", "lstm", "--hidden-size", "8192", "--num-layers", "16"),
        ("needs about", "available"),
        what="`--cell lstm --hidden-size 8192 --num-layers 16`",
    ),
    Case(
        "sample-without-checkpoint",
        ("sample",),
        ("checkpoint", "(see rnn-tui sample --help)"),
        what="`sample` with its checkpoint missing",
    ),
    # -- inspect and sample --step (the microscope) ------------------------------------------------
    Case(
        "inspect-without-checkpoint",
        ("inspect",),
        ("checkpoint", "(see rnn-tui inspect --help)"),
        what="`inspect` with its checkpoint missing",
    ),
    Case(
        "inspect-missing",
        ("inspect", "ckpt/missing.npz", "--find-cells"),
        ("does not exist",),
        what="`inspect` of a missing checkpoint",
    ),
    Case(
        "inspect-corrupt",
        ("inspect", "ckpt/random.npz", "--find-cells"),
        ("not a valid .npz",),
        what="`inspect` of a corrupt checkpoint",
    ),
    Case(
        "inspect-without-terminal",
        ("inspect", "ckpt/good.npz"),
        ("interactive terminal", "--find-cells"),
        what="the neuron view (`inspect` with no output option) with output to a pipe",
    ),
    Case(
        "inspect-top-0",
        ("inspect", "ckpt/good.npz", "--find-cells", "--top", "0"),
        ("--top",),
        what="`inspect --find-cells --top 0`",
    ),
    Case(
        "inspect-unit-too-large",
        ("inspect", "ckpt/good.npz", "--unit", "8"),
        ("--unit 8", "0..7"),
        what="`inspect --unit 8` of a model with 8 units",
    ),
    Case(
        "inspect-layer-too-large",
        ("inspect", "ckpt/good.npz", "--unit", "0", "--layer", "1"),
        ("--layer 1", "0 to 0"),
        what="`inspect --layer 1` of a one-layer model",
    ),
    Case(
        "inspect-signal-c-of-an-rnn",
        ("inspect", "ckpt/good.npz", "--unit", "0", "--signal", "c"),
        ("--signal c", "lstm"),
        what="`inspect --signal c` of a tanh RNN (no memory cell)",
    ),
    Case(
        "inspect-layer-without-unit",
        ("inspect", "ckpt/good.npz", "--find-cells", "--layer", "0"),
        ("--unit",),
        what="`inspect --layer` without `--unit`",
    ),
    Case(
        "inspect-chars-0",
        ("inspect", "ckpt/good.npz", "--unit", "0", "--chars", "0"),
        ("--chars",),
        what="`inspect --chars 0`",
    ),
    Case(
        "inspect-text-missing",
        ("inspect", "ckpt/good.npz", "--find-cells", "--text", "nope.txt"),
        ("nope.txt", "no such file"),
        what="`inspect --text` of a file that does not exist",
    ),
    Case(
        "inspect-text-not-utf8",
        ("inspect", "ckpt/good.npz", "--find-cells", "--text", "latin1.txt"),
        ("not UTF-8",),
        what="`inspect --text` of Latin-1 bytes",
    ),
    Case(
        "inspect-text-outside-vocabulary",
        ("inspect", "ckpt/good.npz", "--find-cells", "--text", "spaces.txt"),
        ("not in the vocabulary",),
        what="`inspect --text` with characters the model never saw",
    ),
    Case(
        "inspect-corpus-gone",
        ("inspect", "ckpt/orphan.npz", "--find-cells"),
        ("no such file", "--text FILE"),
        what="`inspect` after the run's corpus file was deleted",
    ),
    Case(
        "inspect-corpus-edited",
        ("inspect", "ckpt/edited.npz", "--find-cells"),
        ("has changed", "--text FILE"),
        what="`inspect` after new characters were added to the run's corpus",
    ),
    Case(
        "inspect-html-over-a-file",
        ("inspect", "ckpt/good.npz", "--html", "corpus.txt"),
        ("refusing to overwrite",),
        what="`inspect --html` naming a file rnn-tui did not write",
    ),
    Case(
        "inspect-html-folder",
        ("inspect", "ckpt/good.npz", "--html", "blobs"),
        ("is a folder",),
        what="`inspect --html` naming a folder",
    ),
    Case(
        "inspect-html-missing-folder",
        ("inspect", "ckpt/good.npz", "--html", "nowhere/page.html"),
        ("nowhere", "does not exist"),
        what="`inspect --html` in a folder that does not exist",
    ),
    Case(
        "sample-step-without-terminal",
        ("sample", "ckpt/good.npz", "--step"),
        ("interactive terminal", "--step"),
        what="`sample --step` with output to a pipe",
    ),
]


# -- the scratch folder ------------------------------------------------------------------------


def corpus(chars: int, seed: int = 3) -> str:
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away!"]
    rng = np.random.default_rng(seed)
    text = " ".join(words[i] for i in rng.integers(0, len(words), chars // 3))
    return (text + "\n")[:chars]


def save_checkpoint_of(path: Path, corpus_file: Path) -> Path:
    """A real checkpoint of a tiny model trained on `corpus_file` (recorded by absolute path)."""
    text = corpus_file.read_text(encoding="utf-8")
    config = Config(hidden_size=8, seq_length=8, sample_every=0, val_every=0)
    trainer = Trainer(config, text, corpus_name=str(corpus_file.resolve()))
    trainer.run(lambda event: None, max_steps=10)
    return trainer.save(path)


def rewrite_meta(source: Path, dest: Path, change) -> None:
    with np.load(source, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    meta = json.loads(members["meta"].tobytes())
    change(meta)
    members["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(dest, "wb") as handle:
        np.savez(handle, **members)


def absurd_settings(meta: dict) -> None:
    """Settings that call for gigabytes of arrays. The message quotes the file's size, so the
    fields that differ from one scratch folder or run to the next are pinned: the docs table
    then changes only when the checkpoint's contents do. The losses are pinned too: their last
    digits follow the machine's BLAS, and a digit more in the file changed the table."""
    meta["config"].update(hidden_size=8192, batch_size=4096)
    meta.update(corpus_name="corpus.txt", elapsed=1.0)
    meta.update(smooth_loss=2.5, last_loss=2.5, grad_norm=1.0, probe_loss=2.5)
    meta["recent_losses"] = [2.5] * len(meta["recent_losses"])


def make_scratch(root: Path) -> None:
    """The files the cases refer to, relative to `root` (the commands' working directory)."""
    (root / "corpus.txt").write_text(corpus(3000), encoding="utf-8")
    (root / "other.txt").write_text(corpus(3000, seed=9), encoding="utf-8")
    (root / "short.txt").write_text(corpus(300), encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "spaces.txt").write_text("   \n\n  \t \n" * 20, encoding="utf-8")
    (root / "aaaa.txt").write_text("a" * 500, encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (root / "latin1.txt").write_bytes("Café crème, déjà vu. ".encode("latin-1") * 40)
    (root / "blobs").mkdir()
    (root / "blobs" / "a.bin").write_bytes(b"\x00\x01\x02" * 100)
    ckpt = root / "ckpt"
    ckpt.mkdir()
    good = save_checkpoint_of(ckpt / "good.npz", root / "corpus.txt")
    data = good.read_bytes()
    (ckpt / "truncated.npz").write_bytes(data[: len(data) // 2])
    (ckpt / "random.npz").write_bytes(np.random.default_rng(0).bytes(5000))
    rewrite_meta(good, ckpt / "newer.npz", lambda m: m.update(version=FORMAT_VERSION + 1))
    # a run whose corpus file was edited afterwards, and one whose corpus file is gone
    (root / "edited.txt").write_text(corpus(3000, seed=4), encoding="utf-8")
    save_checkpoint_of(ckpt / "edited.npz", root / "edited.txt")
    with open(root / "edited.txt", "a", encoding="utf-8") as handle:
        handle.write("one more line\n")
    (root / "gone.txt").write_text(corpus(3000, seed=5), encoding="utf-8")
    save_checkpoint_of(ckpt / "orphan.npz", root / "gone.txt")
    (root / "gone.txt").unlink()
    # an object array where a parameter should be (np.savez pickles it; the loader must not)
    with np.load(good, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    members["param/Why"] = np.array([{"evil": True}] * 3, dtype=object)
    with open(ckpt / "pickled.npz", "wb") as handle:
        np.savez(handle, **members)
    # settings that would need gigabytes of arrays in a 20 KB file
    rewrite_meta(good, ckpt / "absurd.npz", absurd_settings)
    with zipfile.ZipFile(ckpt / "absurd.npz") as zf:  # (sanity: the fixture is still a zip)
        assert "meta.npy" in zf.namelist()
    (root / "cache").mkdir()
    # what is not a regular file, and a checkpoint whose counters no run can have
    os.mkfifo(root / "pipe")
    (root / "zero.txt").symlink_to("/dev/zero")
    (root / "zero.npz").symlink_to("/dev/zero")
    (root / "dangling.txt").symlink_to(root / "moved-away.txt")
    rewrite_meta(good, ckpt / "negative.npz", lambda m: m.update(step=-5))


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every path below root with its kind, size and mtime (ns)."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            kind = "dir" if path.is_dir() else "file"
            tree[str(path.relative_to(root))] = (
                kind,
                0 if kind == "dir" else st.st_size,
                st.st_mtime_ns,
            )
    return tree


def base_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_TUI_")}
    env.update(
        RNN_TUI_CACHE_DIR=str(root / "cache"),  # an empty cache: kafka is not there
        RNN_TUI_CATALOGUE_URL_KAFKA=NO_NETWORK,
        RNN_TUI_CATALOGUE_URL_SHAKESPEARE=NO_NETWORK,
        RNN_TUI_DOWNLOAD_TIMEOUT="3",
        COLUMNS="200",
    )
    return env


def run_case(case: Case, root: Path) -> subprocess.CompletedProcess:
    env = base_env(root)
    env.update(case.env)
    return subprocess.run(
        [sys.executable, "-m", "rnn_tui", *case.argv],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_all(root: Path) -> dict[str, subprocess.CompletedProcess]:
    """Every case's result by id, three at a time."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(
            zip([c.id for c in CASES], pool.map(lambda c: run_case(c, root), CASES), strict=True)
        )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    make_scratch(root)
    return root


@pytest.fixture(scope="module")
def outcomes(scratch) -> dict[str, tuple[subprocess.CompletedProcess, dict, dict]]:
    """Run every case (three at a time) with a snapshot of the scratch tree before and after."""
    before = snapshot(scratch)
    done = run_all(scratch)
    after = snapshot(scratch)
    return {key: (result, before, after) for key, result in done.items()}


def test_the_docs_count_exactly_these_distinct_cases():
    assert documented_count() == len(CASES), STALE_DOCS
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.argv + tuple(sorted(c.env.items())) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_on_stderr_and_exit_2(case, outcomes):
    result, _, _ = outcomes[case.id]
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnn-tui: error: ")
    assert result.stdout == ""
    for word in case.expect:
        assert word.lower() in lines[0].lower(), (word, lines[0])


def test_no_bad_input_created_or_changed_a_file(outcomes):
    _, before, after = next(iter(outcomes.values()))
    created = sorted(set(after) - set(before))
    deleted = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert (created, deleted, changed) == ([], [], [])


def test_the_snapshot_would_notice_a_created_file(tmp_path):
    """The tree comparison is not vacuous: a run that does start writes its run folder."""
    make_scratch(tmp_path)
    before = snapshot(tmp_path)
    result = run_case(
        Case("ok", (*T, "corpus.txt", "--hidden-size", "8", "--run-dir", "r"), ()), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert set(snapshot(tmp_path)) - set(before) >= {"r", "r/latest.npz"}


def test_the_docs_table_is_what_the_cases_print(outcomes, scratch):
    results = {key: result for key, (result, _, _) in outcomes.items()}
    assert documented_table().splitlines() == markdown_table(results, scratch).splitlines(), (
        STALE_DOCS
    )


# -- the table in docs/reliability.md ----------------------------------------------------------

DOCS = REPO_ROOT / "docs" / "reliability.md"
TABLE_BEGIN = "<!-- generated by: python tests/test_cli_bad_inputs.py --write -->"
TABLE_END = "<!-- end of generated table -->"
COUNT = re.compile(r"(`tests/test_cli_bad_inputs\.py` \| The )(\d+)( cases)")
STALE_DOCS = "docs/reliability.md is out of date: run python tests/test_cli_bad_inputs.py --write"
FREE_MEMORY = re.compile(r"\b[\d.,]+ GiB is available")  # the machine's state, not the message's


def markdown_table(results: dict[str, subprocess.CompletedProcess], root: Path) -> str:
    """The docs table (case, command, message) of these results, the scratch folder as /home/me."""
    rows = [
        "| # | What the user did | Command | What they see (stderr, exit 2) |",
        "|---|---|---|---|",
    ]
    for i, case in enumerate(CASES, 1):
        result = results[case.id]
        env = " ".join(f"{k}={v}" for k, v in case.env.items())
        command = f"{env + ' ' if env else ''}rnn-tui {' '.join(case.argv)}"
        message = result.stderr.strip()
        for prefix in sorted({str(root.resolve()), str(root)}, key=len, reverse=True):
            message = message.replace(prefix, "/home/me")
        message = FREE_MEMORY.sub("N GiB is available", message).replace("|", "\\|")
        status = "" if result.returncode == 2 else f" **(exit {result.returncode})**"
        rows.append(f"| {i} | {case.what} | `{command}` | {message}{status} |")
    return "\n".join(rows)


def documented_table() -> str:
    """The table between the markers in docs/reliability.md."""
    text = DOCS.read_text(encoding="utf-8")
    assert text.count(TABLE_BEGIN) == text.count(TABLE_END) == 1, f"markers missing: {DOCS}"
    return text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0].strip()


def documented_count() -> int:
    """The number of cases docs/reliability.md says this file checks."""
    found = COUNT.findall(DOCS.read_text(encoding="utf-8"))
    assert len(found) == 1, f"expected one '{COUNT.pattern}' in {DOCS}, found {len(found)}"
    return int(found[0][1])


def write_docs(table: str) -> None:
    """Replace the table and the count in docs/reliability.md (nothing else changes)."""
    text = DOCS.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_BEGIN, 1)
    tail = rest.split(TABLE_END, 1)[1]
    text = f"{head}{TABLE_BEGIN}\n{table}\n{TABLE_END}{tail}"
    DOCS.write_text(COUNT.sub(rf"\g<1>{len(CASES)}\g<3>", text), encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_scratch(root)
        table = markdown_table(run_all(root), root)
    if "--write" in sys.argv[1:]:
        write_docs(table)
        print(f"wrote the table of {len(CASES)} cases into {DOCS}")
    else:
        print(table)
