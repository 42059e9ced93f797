"""rnn-tui's engine: a character-level RNN in pure NumPy (no textual, no rich).

The pieces: `Vocab`, `CharStreams`, cells and `CharModel`, optimisers, the sampler, metrics,
checkpoints, and the `Trainer` that ties them together behind a thread-safe control surface:
events out (engine.events), commands in (engine.commands).
"""

from .checkpoint import CheckpointError
from .commands import (
    Command,
    Pause,
    RequestSample,
    Resume,
    RollBack,
    SaveCheckpoint,
    Stop,
    UpdateHparams,
)
from .config import LIVE_HPARAMS, PRESETS, SETTINGS, Config, ConfigError, preset
from .events import (
    CheckpointFailed,
    CheckpointSaved,
    Event,
    HyperparametersChanged,
    RolledBack,
    RunInfo,
    SampleReady,
    Snapshot,
    TrainingFailed,
)
from .model import CharModel
from .persistence import SavedModel, load_model
from .resume import fine_tune_trainer, resume_trainer
from .trainer import RunPolicy, Trainer, corpus_hash
from .vocab import Vocab, VocabError

__all__ = [
    "LIVE_HPARAMS",
    "PRESETS",
    "SETTINGS",
    "CharModel",
    "CheckpointError",
    "CheckpointFailed",
    "CheckpointSaved",
    "Command",
    "Config",
    "ConfigError",
    "Event",
    "HyperparametersChanged",
    "Pause",
    "RequestSample",
    "Resume",
    "RollBack",
    "RolledBack",
    "RunInfo",
    "RunPolicy",
    "SampleReady",
    "SaveCheckpoint",
    "SavedModel",
    "Snapshot",
    "Stop",
    "Trainer",
    "TrainingFailed",
    "UpdateHparams",
    "Vocab",
    "VocabError",
    "corpus_hash",
    "fine_tune_trainer",
    "load_model",
    "preset",
    "resume_trainer",
]
