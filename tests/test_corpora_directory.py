"""Directories: every text file below, sorted by relative path, binary and hidden files
skipped, joined by newlines; and the progress bar while loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rnn_tui.corpora import CorpusError, load_corpus
from rnn_tui.corpora import progress as corpora_progress

# the real cache, local folder and network stay out of reach (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("isolated_corpora")


def write(root: Path, relpath: str, data: bytes) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder of text, binary, hidden and empty files in nested directories."""
    root = tmp_path / "notes"
    write(root, "b.txt", b"bravo\r\n")
    write(root, "a.md", "alpha \u00e9\n".encode())
    write(root, "sub/c.txt", b"charlie\n")
    write(root, "a/z.txt", b"zulu\n")  # 'a.md' < 'a/z.txt' < 'b.txt': '.' sorts before '/'
    write(root, "picture.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(root, "blob.dat", bytes(range(1, 32)) * 10)
    write(root, ".hidden.txt", b"secret\n")
    write(root, ".git/config", b"[core]\n")
    write(root, "empty.txt", b"")
    return root


def test_directory_joins_text_files_sorted_by_relative_path(mixed: Path) -> None:
    corpus = load_corpus(mixed)
    expected = "alpha \u00e9\n" + "\n" + "zulu\n" + "\n" + "bravo\n" + "\n" + "charlie\n"
    assert corpus.text == expected, f"unexpected directory text: {corpus.text!r}"
    assert corpus.name == "notes/"
    assert corpus.source == str(mixed.resolve())
    used = ("a.md", "a/z.txt", "b.txt", "sub/c.txt")
    assert corpus.size_bytes == sum((mixed / p).stat().st_size for p in used)
    assert corpus.sha256 == hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_directory_skips_hidden_and_binary_files(mixed: Path) -> None:
    text = load_corpus(mixed).text
    for unwanted in ("secret", "[core]", "PNG", "IHDR"):
        assert unwanted not in text, f"{unwanted!r} should have been skipped"


def test_directory_keep_newlines(mixed: Path) -> None:
    assert "bravo\r\n" in load_corpus(mixed, keep_newlines=True).text


def test_directory_with_an_undecodable_file_names_it(tmp_path: Path) -> None:
    write(tmp_path / "d", "good.txt", b"good text\n")
    write(tmp_path / "d", "bad.txt", b"caf\xe9\n")
    with pytest.raises(CorpusError, match=r"'d/bad\.txt' is not valid UTF-8 \(byte 0xe9"):
        load_corpus(tmp_path / "d")
    assert "café" in load_corpus(tmp_path / "d", encoding="latin-1").text


def test_directory_given_as_string_path(mixed: Path) -> None:
    assert load_corpus(str(mixed)).text == load_corpus(mixed).text


def test_progress_bar_draws_when_loading_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "book.txt", b"some words to read\n" * 1000)
    monkeypatch.setattr(corpora_progress, "DEFAULT_DELAY", 0.0)  # "slow" from the start
    corpus = load_corpus(path, progress=True)
    assert corpus.num_chars == 19_000
    assert "loading book.txt" in capsys.readouterr().err, "no progress bar on stderr"


def test_no_progress_bar_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "book.txt", b"some words to read\n" * 1000)
    monkeypatch.setattr(corpora_progress, "DEFAULT_DELAY", 0.0)
    load_corpus(path)
    assert capsys.readouterr().err == "", "a bar was drawn without progress=True"


def test_progress_bar_waits_for_the_delay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "book.txt", b"quick\n" * 100)
    load_corpus(path, progress=True)
    assert capsys.readouterr().err == "", "a fast load must not flash a bar"


def test_directory_progress_bar(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(corpora_progress, "DEFAULT_DELAY", 0.0)
    load_corpus(mixed, progress=True)
    assert "loading notes/" in capsys.readouterr().err
