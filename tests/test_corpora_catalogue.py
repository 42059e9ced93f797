"""The catalogue: names, the local corpus folder, the cache (and corrupt cache entries), the
listing printed by `rnn-tui corpora`, and the real books from ../shared/corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnn_tui.corpora import CorpusError, catalogue_entries, format_catalogue, load_corpus

SHARED_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
UNREACHABLE = "http://127.0.0.1:9/unreachable"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache, no local folder, and catalogue URLs that cannot reach the network."""
    monkeypatch.setenv("RNN_TUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNN_TUI_CORPUS_DIR", raising=False)
    for name in ("KAFKA", "SHAKESPEARE"):
        monkeypatch.setenv(f"RNN_TUI_CATALOGUE_URL_{name}", UNREACHABLE)
    return tmp_path / "cache" / "corpora"


def shared_book(name: str) -> Path:
    path = SHARED_CORPORA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real books live in ../shared/corpora beside the repo")
    return path


GUTENBERG_RAW = (
    "\ufeffThe Project Gutenberg eBook of Something\r\n\r\nLicence words.\r\n\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\r\n\r\n"
    "Chapter one.\r\n\r\nA short made-up story about a bug.\r\n\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\r\n\r\nMore licence words.\r\n"
)


def test_entries_list_the_catalogue_sorted() -> None:
    entries = catalogue_entries()
    assert [e.name for e in entries] == ["kafka", "python", "shakespeare"]
    by_name = {e.name: e for e in entries}
    assert by_name["python"].builtin and by_name["python"].url is None
    assert by_name["kafka"].filename == "kafka.txt"
    assert by_name["shakespeare"].filename == "tinyshakespeare.txt"
    assert all(e.cached_path is None and e.local_path is None for e in entries)


def test_entries_show_the_catalogue_urls_without_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNN_TUI_CATALOGUE_URL_KAFKA")
    monkeypatch.delenv("RNN_TUI_CATALOGUE_URL_SHAKESPEARE")
    urls = {e.name: e.url for e in catalogue_entries()}
    assert urls["kafka"] == "https://www.gutenberg.org/cache/epub/5200/pg5200.txt"
    assert urls["shakespeare"] == (
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    )


def test_local_folder_is_used_before_any_download(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "kafka.txt").write_text(GUTENBERG_RAW, encoding="utf-8", newline="")
    corpus = load_corpus("kafka", corpus_dir=str(folder))
    assert corpus.text == "Chapter one.\n\nA short made-up story about a bug.\n", corpus.text
    assert corpus.name == "kafka"
    assert corpus.source == str((folder / "kafka.txt").resolve())
    entry = next(e for e in catalogue_entries(str(folder)) if e.name == "kafka")
    assert entry.local_path == folder / "kafka.txt"


def test_local_folder_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tinyshakespeare.txt").write_text("First Citizen:\nSpeak.\n", encoding="utf-8")
    monkeypatch.setenv("RNN_TUI_CORPUS_DIR", str(tmp_path))
    assert load_corpus("shakespeare").text == "First Citizen:\nSpeak.\n"
    assert "local file" in format_catalogue()


def test_names_are_case_insensitive(tmp_path: Path) -> None:
    (tmp_path / "kafka.txt").write_text("Gregor woke up.\n", encoding="utf-8")
    assert load_corpus("Kafka", corpus_dir=str(tmp_path)).text == "Gregor woke up.\n"


def test_missing_local_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        load_corpus("kafka", corpus_dir=str(tmp_path / "nowhere"))
    message = str(info.value)
    assert message.startswith(f"the corpus folder '{tmp_path / 'nowhere'}' (--corpus-dir)"), message
    assert "kafka.txt" in message


def test_local_file_missing_from_folder_falls_back_to_cache(tmp_path: Path, cache: Path) -> None:
    cache.mkdir(parents=True)
    # a cached copy must hold the book's words (a cached captive-portal page does not)
    book = "cached copy: Gregor Samsa, Grete and the chief clerk\n"
    (cache / "kafka.txt").write_text(book, encoding="utf-8")
    (tmp_path / "empty-folder").mkdir()
    corpus = load_corpus("kafka", corpus_dir=str(tmp_path / "empty-folder"))
    assert corpus.text == book
    assert corpus.source == str((cache / "kafka.txt").resolve())


def test_cached_copy_is_listed(cache: Path) -> None:
    cache.mkdir(parents=True)
    (cache / "tinyshakespeare.txt").write_text("cached\n", encoding="utf-8")
    entry = next(e for e in catalogue_entries() if e.name == "shakespeare")
    assert entry.cached_path == cache / "tinyshakespeare.txt"
    assert f"cached at {cache / 'tinyshakespeare.txt'}" in format_catalogue()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"caf\xe9 au lait\n", "not valid UTF-8 (byte 0xe9 at offset 3, line 1)"),
        (b"\x00\x01\x02binary", "binary content"),
        (b" \n \n", "only whitespace"),
    ],
    ids=["empty", "undecodable", "binary", "whitespace"],
)
def test_corrupt_cache_entry_is_reported_with_what_to_do(
    cache: Path, content: bytes, reason: str
) -> None:
    cache.mkdir(parents=True)
    entry = cache / "kafka.txt"
    entry.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        load_corpus("kafka")
    message = str(info.value)
    assert message.startswith(f"the cached copy of 'kafka' is corrupt ({reason}"), message
    assert message.endswith(f"delete {entry} and run again to download a fresh copy"), message
    assert entry.read_bytes() == content, "reporting a corrupt entry must not touch it"


def test_format_catalogue_lists_names_and_state(tmp_path: Path) -> None:
    text = format_catalogue()
    for name in ("kafka", "python", "shakespeare"):
        assert f"  {name} " in text, text
    assert "not downloaded yet; first use downloads" in text
    assert "built in" in text
    assert "Local folder: not set" in text
    assert str(tmp_path / "cache" / "corpora") in text
    assert "rnn-tui path/to/file.txt" in text


def test_format_catalogue_flags_a_missing_local_folder(tmp_path: Path) -> None:
    assert "(missing: not a directory)" in format_catalogue(str(tmp_path / "gone"))


def test_real_kafka_from_shared_corpora_loses_its_licence() -> None:
    path = shared_book("kafka.txt")
    corpus = load_corpus("kafka", corpus_dir=str(path.parent))
    assert corpus.text.startswith("One morning, when Gregor Samsa woke"), corpus.text[:60]
    assert "Gutenberg" not in corpus.text, "the Project Gutenberg footer was not stripped"
    assert corpus.text.endswith("young body.\n"), corpus.text[-60:]
    assert corpus.size_bytes == path.stat().st_size


def test_real_shakespeare_from_shared_corpora() -> None:
    path = shared_book("tinyshakespeare.txt")
    corpus = load_corpus("shakespeare", corpus_dir=str(path.parent))
    assert corpus.num_chars == 1_115_394 and corpus.num_distinct == 65
    assert corpus.text.startswith("First Citizen:")
    assert load_corpus(path).sha256 == corpus.sha256, "by name and by path must be the same text"
