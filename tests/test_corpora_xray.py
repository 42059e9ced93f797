"""Corpus X-ray lines: size, distinct and rarest characters, control characters, space and
newline, and the warning when the model is large for the text."""

from __future__ import annotations

from rnn_tui.corpora import Corpus, xray
from rnn_tui.corpora.xray import show_char


def make(text: str) -> Corpus:
    return Corpus(text=text, name="t.txt", source="/tmp/t.txt", size_bytes=len(text.encode()))


def test_xray_reports_size_and_characters() -> None:
    lines = xray(make("hello world\nhello again\n\tend\x0c\n"))
    text = "\n".join(lines)
    assert "corpus: t.txt (/tmp/t.txt)" in lines
    assert "size: 30 bytes, 30 characters, 3 newlines" in lines, text
    assert "distinct characters: 15" in lines, text
    assert "rarest: '\\t' (1), '\\x0c' (1), 'g' (1), 'i' (1), 'r' (1)" in lines, text
    assert "control characters: '\\x0c' (1)" in lines, text
    assert "space: yes; newline: yes" in lines, text


def test_xray_reports_missing_space_and_newline() -> None:
    lines = xray(make("abcabcabc"))
    assert "control characters: none" in lines
    assert "space: no (the text has no spaces); newline: no (samples will be one long line)" in (
        lines
    ), lines


def test_xray_lists_format_characters_as_control() -> None:
    lines = xray(make("zero\u200bwidth text\n"))
    assert "control characters: '\\u200b' (1)" in lines, lines


def test_xray_warns_when_the_model_is_large_for_the_text() -> None:
    corpus = make("a small text, much smaller than the model\n" * 10)
    lines = xray(corpus, param_count=1_000_000)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1, lines
    assert "small for this model" in warnings[0] and "memorise" in warnings[0], warnings[0]


def test_xray_no_warning_when_sizes_are_comparable() -> None:
    corpus = make("plenty of text for a small model\n" * 1000)
    lines = xray(corpus, param_count=30_000)
    assert not any(line.startswith("warning:") for line in lines), lines
    assert any(line.startswith("model: 30,000 parameters") for line in lines), lines


def test_xray_without_param_count_says_nothing_about_the_model() -> None:
    assert not any(line.startswith(("model:", "warning:")) for line in xray(make("ab ab\n")))


def test_xray_lines_are_plain_single_lines() -> None:
    for line in xray(make("tabs\tand\nnewlines\r\n and 🙂\n"), param_count=10**7):
        assert "\n" not in line and "\r" not in line, repr(line)


def test_show_char_escapes_invisible_characters() -> None:
    assert show_char("\n") == "'\\n'"
    assert show_char("\t") == "'\\t'"
    assert show_char(" ") == "space"
    assert show_char("\x1b") == "'\\x1b'"
    assert show_char("é") == "'é'"
    assert show_char("🙂") == "'🙂'"
