"""`python -m rnn_tui`: the same as the `rnn-tui` command."""

from rnn_tui.tui.cli import run

if __name__ == "__main__":
    run()
