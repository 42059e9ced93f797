"""`rnn-tui corpora`: the catalogue of named texts and which are cached."""

from __future__ import annotations

from ..options import Parser

SUMMARY = "list the corpus catalogue and what is cached"
EXAMPLE = "rnn-tui corpora"


def parser(prog: str = "rnn-tui corpora") -> Parser:
    """Options of `rnn-tui corpora`."""
    p = Parser(prog=prog, description="List the corpus catalogue and what is cached.")
    p.add_argument("--corpus-dir", metavar="DIR", help="a local folder with catalogue texts")
    return p


def main(argv: list[str], prog: str = "rnn-tui corpora") -> int:
    """Print the catalogue."""
    from rnn_tui.corpora import format_catalogue

    args = parser(prog).parse_args(argv)
    print(format_catalogue(args.corpus_dir))
    return 0
