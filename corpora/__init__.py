"""corpora: text in (a file, a directory, a catalogue name or the built-in Python corpus),
clear one-line errors out. Imports nothing from the engine or the TUI."""

from .catalogue import CatalogueEntry, catalogue_entries, format_catalogue
from .corpus import Corpus
from .errors import CorpusError
from .loader import load_corpus
from .xray import xray

__all__ = [
    "CatalogueEntry",
    "Corpus",
    "CorpusError",
    "catalogue_entries",
    "format_catalogue",
    "load_corpus",
    "xray",
]
