"""Shared fixtures: the corpora that live beside the repository (../shared/corpora) and small texts."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# In CI the repository is a fresh clone next to `shared/`, so the corpora are ../shared/corpora.
CORPORA_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def _read_corpus(name: str) -> str:
    path = CORPORA_DIR / name
    if not path.is_file():
        pytest.skip(
            f"corpus {path} is absent (expected the shared corpora at ../shared/corpora beside the repo)"
        )
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    """The folder of shared corpora (skips the test when it is missing)."""
    if not CORPORA_DIR.is_dir():
        pytest.skip(f"shared corpora folder {CORPORA_DIR} is absent")
    return CORPORA_DIR


@pytest.fixture(scope="session")
def kafka_text() -> str:
    """The full text of kafka.txt, the classic model's golden-value corpus."""
    return _read_corpus("kafka.txt")


SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "How vexingly quick daft zebras jump;",
    "Sphinx of black quartz, judge my vow.",
    "The five boxing wizards jump quickly?",
    "Jackdaws love my big sphinx of quartz: 1, 2, 3.",
)


def make_text(chars: int, seed: int = 1234) -> str:
    """A deterministic pseudo-English text of exactly `chars` characters (no corpus needed)."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        part = rng.choice(SENTENCES) + ("\n" if rng.random() < 0.2 else " ")
        parts.append(part)
        size += len(part)
    return "".join(parts)[:chars]


@pytest.fixture(scope="session")
def small_text() -> str:
    """6,000 characters of pangrams: a few epochs of a tiny model in no time, no corpus needed."""
    return make_text(6000)


@pytest.fixture
def isolated_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a corpora test away from the real cache, the local folder and the network."""
    monkeypatch.setenv("RNN_TUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNN_TUI_CORPUS_DIR", raising=False)
    for name in ("KAFKA", "SHAKESPEARE"):
        monkeypatch.setenv(f"RNN_TUI_CATALOGUE_URL_{name}", "http://127.0.0.1:9/unreachable")


def unprivileged() -> tuple[str, ...]:
    """A command prefix that runs without the right to read other people's files. As root,
    drop CAP_DAC_OVERRIDE (root then obeys file permissions as any user does)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot test an unreadable folder")
    caps = "-dac_override,-dac_read_search"
    return (setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}")
