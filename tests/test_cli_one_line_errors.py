"""An error is one line on stderr, whatever the message holds (tui/output.py's print_error)."""

from __future__ import annotations

from rnn_tui.tui.output import ERROR_WIDTH, print_error


def test_a_message_with_line_breaks_is_printed_on_one_line(capsys):
    print_error("could not read\nthe file:\r\n  it is\tgone")
    assert capsys.readouterr().err == "rnn-tui: error: could not read the file: it is gone\n"


def test_a_pasted_novel_is_cut_to_the_error_width(capsys):
    print_error("word " * 1000, kind="warning")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnn-tui: warning: word word")
    assert len(err) == len("rnn-tui: warning: ") + ERROR_WIDTH + 1 and err.endswith("…\n")
