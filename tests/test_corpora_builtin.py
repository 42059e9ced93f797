"""The built-in `python` corpus: the running interpreter's stdlib source, deterministic, capped,
offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rnn_tui.corpora import load_corpus
from rnn_tui.corpora.builtin import (
    CAP_BYTES,
    EXCLUDED_DIRS,
    load_builtin,
    stdlib_dir,
    stdlib_sources,
)

# the real cache, local folder and network stay out of reach (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("isolated_corpora")


def test_builtin_corpus_is_nonempty_python_source() -> None:
    corpus = load_corpus()
    assert corpus.num_chars > 100_000, f"built-in corpus is tiny: {corpus.num_chars} characters"
    assert "def " in corpus.text and "import " in corpus.text
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert corpus.name == f"python (stdlib {version})"
    assert corpus.source == str(stdlib_dir())
    assert 0 < corpus.size_bytes <= CAP_BYTES
    assert "\r" not in corpus.text and "\x00" not in corpus.text


def test_builtin_corpus_is_deterministic_across_loads() -> None:
    first, second = load_corpus(), load_corpus("python")
    assert first.sha256 == second.sha256, "two loads of the built-in corpus differ"
    assert first.text == second.text
    assert first.char_counts == second.char_counts


def test_stdlib_sources_are_sorted_and_exclude_tests_and_packages() -> None:
    sources = stdlib_sources(stdlib_dir())
    relpaths = [rel for rel, _ in sources]
    assert relpaths == sorted(relpaths), "stdlib files are not in relative-path order"
    for rel in relpaths:
        parts = rel.split("/")
        assert not EXCLUDED_DIRS.intersection(parts[:-1]), f"{rel} is in an excluded directory"
        assert rel.endswith(".py")


def test_cap_cuts_at_a_file_boundary_and_keeps_the_order() -> None:
    small = load_builtin(cap_bytes=50_000)
    full = load_builtin()
    assert 0 < small.size_bytes <= 50_000
    assert full.text.startswith(small.text), "a smaller cap must give a prefix of the corpus"
    first_rel, first_path = stdlib_sources(stdlib_dir())[0]
    assert small.text.startswith(first_path.read_text(encoding="utf-8")), first_rel


def test_fake_stdlib_selection_rules(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    files = {
        "b.py": b"b = 2\n",
        "a.py": b"a = 1\n",
        "pkg/__init__.py": b"p = 3\n",
        "pkg/test/test_x.py": b"no tests\n",
        "site-packages/thing.py": b"no packages\n",
        "latin.py": b"# caf\xe9\n",  # not UTF-8: skipped
        "notes.txt": b"not python\n",
        "z_big.py": b"z = 0\n" * 100,
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    corpus = load_builtin(root=root)
    assert corpus.text == "a = 1\n\nb = 2\n\np = 3\n\n" + "z = 0\n" * 100
    capped = load_builtin(cap_bytes=20, root=root)
    assert capped.text == "a = 1\n\nb = 2\n\np = 3\n", "the cap must stop before z_big.py"
    assert capped.size_bytes == 18
