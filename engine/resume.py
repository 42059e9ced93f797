"""Trainers that start from a checkpoint: resuming a run exactly, or fine-tuning on new text.

Both check everything a checkpoint claims before a byte is allocated for it (settings, array
names, shapes and sizes), then rebuild the Trainer and load it.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError, check_arrays, load_checkpoint, read_meta
from .config import LIVE_HPARAMS, Config, ConfigError
from .persistence import checkpoint_layout, reproduces_probe, restore, saved_settings
from .trainer import Trainer, corpus_hash

# What a fine-tune may not change: the shape and number format of the weights it keeps.
ARCHITECTURE = ("cell", "hidden_size", "num_layers", "dtype")


def resume_trainer(
    path: str | Path,
    text: str,
    *,
    corpus_name: str = "",
    corpus_sha256: str | None = None,
    checkpoint_path: str | Path | None = None,
    allow_other_corpus: bool = False,
    changes: dict | None = None,
) -> Trainer:
    """A trainer that continues exactly where the checkpoint left off (CheckpointError if it
    cannot), with `changes` to its live settings (ConfigError for any other setting)."""
    path = Path(path)
    fixed = sorted(set(changes or {}) - set(LIVE_HPARAMS))
    if fixed:
        raise ConfigError(
            f"{', '.join(fixed)} cannot change when resuming (the checkpoint fixes the model)"
        )
    meta = read_meta(path)
    config, vocab = saved_settings(path, meta)
    sha = corpus_sha256 or corpus_hash(text)
    if sha != meta.get("corpus_sha256") and not allow_other_corpus:
        raise CheckpointError(
            f"checkpoint {path} was trained on a different text ({meta.get('corpus_name') or 'unknown'}); "
            "pass the same corpus to resume, or start a new run"
        )
    missing = sorted(set(text) - set(vocab.chars))
    if missing:
        raise CheckpointError(
            f"this text has characters the checkpoint's model never saw "
            f"({', '.join(map(repr, missing[:5]))}); resume on the original corpus"
        )
    try:
        # names, shapes and sizes first: absurd settings must fail before the trainer allocates
        layout = checkpoint_layout(config, len(vocab), meta)
        check_arrays(path, layout)
        trainer = Trainer(
            config,
            text,
            corpus_name=corpus_name or meta.get("corpus_name", ""),
            corpus_sha256=sha,
            vocab=vocab,
            checkpoint_path=checkpoint_path,
        )
    except ValueError as exc:  # a bad curve size, or a text too short for the saved batch
        raise CheckpointError(
            f"checkpoint {path} is unusable: {exc}; use another checkpoint"
        ) from None
    restore(trainer, load_checkpoint(path, layout))
    if sha == meta.get("corpus_sha256") and not reproduces_probe(trainer, meta):
        raise CheckpointError(
            f"checkpoint {path} failed its consistency check (the weights do not reproduce their "
            "stored loss); use an earlier checkpoint"
        )
    if changes:
        trainer.config = trainer.config.replace(**changes)
    return trainer


def fine_tune_trainer(
    path: str | Path,
    text: str,
    *,
    changes: dict | None = None,
    keep_optimizer: bool = False,
    corpus_name: str = "",
    corpus_sha256: str | None = None,
    checkpoint_path: str | Path | None = None,
) -> Trainer:
    """A new run on `text` that starts from a checkpoint's weights and vocabulary.

    Steps, curves, samples and data position start afresh; the optimiser's memory too, unless
    `keep_optimizer`. `changes` may adjust any setting but the architecture (ARCHITECTURE).
    """
    path = Path(path)
    meta = read_meta(path)
    saved_config, vocab = saved_settings(path, meta)
    missing = sorted(set(text) - set(vocab.chars))
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise CheckpointError(
            f"the new text has {len(missing)} character(s) the model's vocabulary lacks ({shown}); "
            "fine-tuning keeps the vocabulary, so remove them from the text or start a new run"
        )
    changes = dict(changes or {})
    fixed = sorted(
        k for k in changes if k in ARCHITECTURE and changes[k] != getattr(saved_config, k)
    )
    if (
        keep_optimizer
        and changes.get("optimizer", saved_config.optimizer) != saved_config.optimizer
    ):
        fixed.append("optimizer")
    if fixed:
        raise ConfigError(
            f"fine-tuning keeps the model, so {', '.join(fixed)} cannot change; drop "
            f"{'it' if len(fixed) == 1 else 'them'} or start a new run"
        )
    config: Config = saved_config.replace(**changes)
    layout = checkpoint_layout(saved_config, len(vocab), meta)
    check_arrays(path, layout)
    data = load_checkpoint(path, layout)
    try:
        trainer = Trainer(
            config,
            text,
            corpus_name=corpus_name,
            corpus_sha256=corpus_sha256,
            vocab=vocab,
            checkpoint_path=checkpoint_path,
        )
    except ValueError as exc:  # a text too short for the batch and window
        raise CheckpointError(f"cannot fine-tune on this text: {exc}") from None
    for name, param in trainer.params.items():
        param[...] = data.arrays[f"param/{name}"]
    if keep_optimizer:
        trainer.optimizer.load_state_dict(
            {k[4:]: v for k, v in data.arrays.items() if k.startswith("opt/")}
        )
    trainer.fine_tuned_from = str(path)
    return trainer
