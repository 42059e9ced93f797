"""Decoding: BOMs, --encoding, newline normalisation and Unicode beyond the BMP, through
load_corpus and through the decode module directly."""

from __future__ import annotations

import codecs
import hashlib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_tui.corpora import Corpus, CorpusError, load_corpus
from rnn_tui.corpora.corpus import count_chars, text_sha256
from rnn_tui.corpora.decode import decode_bytes, normalise_newlines

# the real cache, local folder and network stay out of reach (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("isolated_corpora")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", codecs.BOM_UTF8 + b"hello world\n")
    corpus = load_corpus(path)
    assert corpus.text == "hello world\n", f"BOM not stripped: {corpus.text[:5]!r}"
    assert "\ufeff" not in corpus.char_counts, "BOM counted as a character"
    assert corpus.size_bytes == 15, "size_bytes must be the size on disk, BOM included"


def test_utf8_bom_is_stripped_when_utf8_is_given_explicitly(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", codecs.BOM_UTF8 + b"hello world\n")
    assert load_corpus(path, encoding="utf-8").text == "hello world\n"


def test_utf16_with_bom_is_detected_without_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "notepad.txt", "héllo wörld\r\n".encode("utf-16"))
    corpus = load_corpus(path)
    assert corpus.text == "héllo wörld\n", f"UTF-16 file decoded wrongly: {corpus.text!r}"


def test_crlf_becomes_lf(tmp_path: Path) -> None:
    path = write(tmp_path, "dos.txt", b"one\r\ntwo\r\nthree\r\n")
    corpus = load_corpus(path)
    assert corpus.text == "one\ntwo\nthree\n", f"CRLF not normalised: {corpus.text!r}"
    assert "\r" not in corpus.char_counts


def test_lone_cr_becomes_lf(tmp_path: Path) -> None:
    path = write(tmp_path, "mac.txt", b"one\rtwo\r\nthree\r")
    assert load_corpus(path).text == "one\ntwo\nthree\n"


def test_keep_newlines_keeps_cr_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path, "dos.txt", b"one\r\ntwo\rthree\n")
    corpus = load_corpus(path, keep_newlines=True)
    assert corpus.text == "one\r\ntwo\rthree\n", f"newlines changed: {corpus.text!r}"
    assert corpus.char_counts["\r"] == 2


def test_latin1_with_encoding_option(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.txt", "café crème, señor\n".encode("latin-1"))
    corpus = load_corpus(path, encoding="latin-1")
    assert corpus.text == "café crème, señor\n"
    assert corpus.char_counts["é"] == 1 and corpus.char_counts["è"] == 1
    assert corpus.sha256 == hashlib.sha256(corpus.text.encode("utf-8")).hexdigest()


def test_cp1252_smart_quotes_with_encoding_option(tmp_path: Path) -> None:
    path = write(tmp_path, "win.txt", b"\x93quoted\x94 \x96 dash\r\n")
    assert load_corpus(path, encoding="cp1252").text == "\u201cquoted\u201d \u2013 dash\n"


def test_unicode_beyond_the_bmp_round_trips(tmp_path: Path) -> None:
    text = "emoji 🙂🚀 and CJK 漢字かな, music 𝄞, naïve\n🙂 again\n"
    corpus = load_corpus(write(tmp_path, "wide.txt", text.encode("utf-8")))
    assert corpus.text == text, "text changed on the way through"
    assert corpus.num_chars == len(text), "num_chars must count code points"
    assert corpus.char_counts["🙂"] == 2, f"emoji count wrong: {corpus.char_counts.get('🙂')}"
    for ch in "🚀漢字かな𝄞ï":
        assert ch in corpus.char_counts, f"{ch!r} missing from char_counts"
    assert sum(corpus.char_counts.values()) == len(text)
    assert corpus.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_corpus_fields_and_properties(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", b"abc abc\n")
    corpus = load_corpus(path)
    assert corpus.name == "notes.txt"
    assert corpus.source == str(path.resolve())
    assert corpus.size_bytes == 8
    assert corpus.num_chars == 8
    assert corpus.num_distinct == 5
    assert corpus.char_counts == {"\n": 1, " ": 1, "a": 2, "b": 2, "c": 2}
    assert list(corpus.char_counts) == sorted(corpus.char_counts), "counts must be sorted"
    assert "abc abc" not in repr(corpus), "repr must not dump the whole text"
    with pytest.raises(AttributeError):
        corpus.text = "changed"  # type: ignore[misc]


def test_corpus_built_directly_computes_counts_and_hash() -> None:
    corpus = Corpus(text="hello", name="n", source="s", size_bytes=5)
    assert corpus.char_counts == {"e": 1, "h": 1, "l": 2, "o": 1}
    assert corpus.sha256 == hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize(
    "text",
    [
        "abcdefgh\n" * 20_000,  # ASCII fast path
        "naïve 🙂 漢字\n" * 10_000,  # all code points path
    ],
    ids=["ascii", "unicode"],
)
def test_numpy_char_counts_match_counter_on_large_text(text: str) -> None:
    seen: list[int] = []
    counts = count_chars(text, seen.append)
    assert counts == dict(sorted(Counter(text).items())), "numpy counts differ from Counter"
    assert sum(seen) == len(text), "progress callback must cover every character"
    assert text_sha256(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_utf8_decoding_round_trips_any_text(text: str) -> None:
    data = text.encode("utf-8")
    if "\x00" in text:
        return  # NUL is binary by definition
    try:
        decoded = decode_bytes(data, "'t'")
    except CorpusError as err:  # only the binary heuristic may refuse real text
        assert "binary" in str(err), f"unexpected refusal: {err}"
        return
    assert decoded == text.removeprefix("\ufeff")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \r\n"), max_size=60))
def test_newline_normalisation_leaves_no_cr_and_keeps_line_count(text: str) -> None:
    normalised = normalise_newlines(text)
    assert "\r" not in normalised
    # Each CRLF, lone CR or LF is exactly one line break.
    assert normalised.count("\n") == text.count("\n") + text.count("\r") - text.count("\r\n")
