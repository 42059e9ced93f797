"""rnn-tui's engine: a character-level RNN in pure NumPy (no textual, no rich).

The pieces: `Vocab`, `CharStreams`, cells and `CharModel`, optimisers, the sampler, metrics,
checkpoints, and the `Trainer` that ties them together behind a thread-safe control surface.
"""

from .checkpoint import CheckpointError
from .config import PRESETS, Config, ConfigError, preset
from .events import (
    CheckpointFailed,
    CheckpointSaved,
    Event,
    HyperparametersChanged,
    RolledBack,
    SampleReady,
    Snapshot,
    TrainingFailed,
)
from .model import CharModel
from .trainer import Trainer, corpus_hash
from .vocab import Vocab, VocabError

__all__ = [
    "PRESETS",
    "CharModel",
    "CheckpointError",
    "CheckpointFailed",
    "CheckpointSaved",
    "Config",
    "ConfigError",
    "Event",
    "HyperparametersChanged",
    "RolledBack",
    "SampleReady",
    "Snapshot",
    "Trainer",
    "TrainingFailed",
    "Vocab",
    "VocabError",
    "corpus_hash",
    "preset",
]
