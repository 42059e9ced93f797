"""rnn-tui: watch a character-level RNN, written in pure NumPy, learn to write in your terminal.

One import package for the three folders of the repository: `rnn_tui.engine` (pure NumPy),
`rnn_tui.corpora` (text in, clear errors out) and `rnn_tui.tui` (the Textual front end and the
`rnn-tui` command). pyproject.toml maps them here, so installing never adds top-level names
such as `engine`, `tui` or `corpora` that other distributions use.
"""

__version__ = "0.2.0"
