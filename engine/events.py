"""Immutable messages the Trainer publishes: one frequent Snapshot and discrete events never dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import numpy as np

from .metrics import nats_to_bits, perplexity

if TYPE_CHECKING:  # annotations only: the yardstick modules stay out of every import of events
    from .gradient_health import GradientHealth
    from .ngram import Baselines
    from .novelty import Novelty

RunState = Literal["running", "paused", "diverged", "stopped"]


def frozen_array(values: np.ndarray | list) -> np.ndarray:
    """Copy into a read-only array so a consumer can never alter (or see alteration of) engine state."""
    out = np.array(values, copy=True)
    out.setflags(write=False)
    return out


def frozen_mapping(values: Mapping) -> Mapping:
    """A read-only view of a copied dict."""
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class Snapshot:
    """Everything a dashboard shows, copied out of the training thread at a bounded rate."""

    step: int  # optimisation steps done
    epoch: int  # full passes of stream 0 over the training text
    epoch_progress: float  # 0..1 within the current epoch
    run_state: RunState
    loss: float  # last window's loss per character (nats)
    smooth_loss: float  # exponentially smoothed loss per character (nats)
    classic_smooth_loss: float  # the video's smoothed 25-char sum (smooth_loss * seq_length)
    val_loss: float | None  # last validation loss per character (nats), None before the first
    chars_per_sec: float
    elapsed: float  # seconds of training (pauses excluded)
    grad_norm: float  # global L2 norm of the gradient before clipping
    clipped_fraction: float  # fraction of gradient entries that clipping changed
    train_curve: np.ndarray  # (N, 2) [step, smooth loss per char], downsampled
    val_curve: np.ndarray  # (M, 2) [step, validation loss per char]
    recent_losses: np.ndarray  # (K,) raw loss per char of the last K steps
    hparams: Mapping[str, float]  # live hyperparameters (learning_rate, temperature, ...)
    hparam_change_steps: tuple[int, ...]  # steps at which a hyperparameter was changed
    sample: str  # latest periodic sample text
    sample_step: int  # step the latest sample was drawn at (-1: none yet)
    hidden: np.ndarray  # (T, H) last layer's hidden state for stream 0 over the last window
    hidden_chars: str  # the T characters fed in to produce `hidden`
    last_checkpoint: str | None = None
    message: str = ""  # why the state is what it is (e.g. divergence reason)
    scheduled_learning_rate: float | None = None  # rate in use under a schedule (None: constant)
    schedule: str = ""  # the schedule and where it stands ("cosine 2:10/5:00")
    horizon_unit: str | None = None  # what a budget-following cosine spans: "steps" or "seconds"
    horizon_end: float | None = None  # the step count or training seconds its cycle ends at
    gradient_health: GradientHealth | None = None  # the last probe's numbers (None before one)
    dropout_active: bool = False  # the next step drops units (late dropout: from its epoch on)

    @property
    def bits(self) -> float:
        """Smoothed loss per character in bits."""
        return nats_to_bits(self.smooth_loss)

    @property
    def perplexity(self) -> float:
        """exp(smoothed loss per character)."""
        return perplexity(self.smooth_loss)


@dataclass(frozen=True)
class RunInfo:
    """What does not change while a run trains: corpus, vocabulary, model and where it saves,
    plus the periodic samples drawn so far (a dashboard that opens late shows them too)."""

    corpus: str
    train_chars: int
    val_chars: int
    vocab: tuple[str, ...]
    cell: str
    num_layers: int
    hidden_size: int
    batch_size: int
    seq_length: int
    optimizer: str
    dtype: str
    params: int
    checkpoint: str | None  # the run's latest checkpoint path (None: nowhere to save)
    dropout: float = 0.0
    dropout_from_epoch: float = 0.0  # late dropout starts at this many epochs
    samples: tuple[tuple[int, str], ...] = ()  # (step, text) of the kept periodic samples

    @property
    def vocab_size(self) -> int:
        """Distinct characters the model reads and writes."""
        return len(self.vocab)


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint was written completely (atomically) to `path`."""

    path: str
    step: int
    notices: tuple[str, ...] = ()  # what the run's store left alone and why (another run's files)


@dataclass(frozen=True)
class CheckpointFailed:
    """Writing a checkpoint failed; the previous file at `path`, if any, is intact."""

    path: str
    step: int
    error: str


@dataclass(frozen=True)
class SampleReady:
    """Text generated from the model; `requested` is False for the periodic sample."""

    text: str
    seed: str
    step: int
    requested: bool
    tag: str = ""  # the RequestSample's tag ("" for the periodic sample)


@dataclass(frozen=True)
class HyperparametersChanged:
    """New hyperparameters took effect before step `step`."""

    step: int
    changes: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingFailed:
    """Training stopped on something it cannot continue from (NaN loss, divergence, an exception)."""

    step: int
    reason: str


@dataclass(frozen=True)
class RolledBack:
    """After a divergence, training state was restored from `path` (step `step`), now paused."""

    path: str
    step: int
    learning_rate: float


@dataclass(frozen=True, eq=False)
class WeightsCopied:
    """The answer to a RequestWeights: everything a probe needs, as plain data (a config dict,
    the vocabulary, read-only parameter copies made in the training thread), with text to probe:
    `passage`, the first PROBE_PASSAGE_CHARS of the validation text, and `warmup`, the
    PROBE_WARMUP_CHARS before it, on which a view warms the state before the passage."""

    tag: str
    step: int
    config: Mapping[str, object]  # Config.to_dict() of the run, read-only
    vocab: tuple[str, ...]
    params: Mapping[str, np.ndarray]  # name -> read-only copy
    passage: str
    warmup: str
    train_text: str = ""  # the start of the training text, as much as RequestWeights asked for


@dataclass(frozen=True)
class BaselinesReady:
    """The n-gram yardsticks of the run's corpus and split, from a background worker
    (engine/yardsticks.py): read from the cache, or computed in `seconds`."""

    baselines: Baselines
    cached: bool
    seconds: float
    val_chars: int  # validation characters scored: the ones the model's validation pass scores


@dataclass(frozen=True)
class NoveltyMeasured:
    """How much of the periodic sample drawn at `step` is copied from the training text."""

    step: int
    text: str
    novelty: Novelty


@dataclass(frozen=True)
class YardstickUnavailable:
    """A yardstick could not be computed for this run (say, no validation split): `reason`."""

    what: Literal["baselines", "novelty"]
    reason: str


PROBE_PASSAGE_CHARS = 20_000  # what the cell finder reads by default
PROBE_WARMUP_CHARS = 500  # enough for the state to forget that it started at zero


Event = (
    Snapshot
    | CheckpointSaved
    | CheckpointFailed
    | SampleReady
    | HyperparametersChanged
    | TrainingFailed
    | RolledBack
    | WeightsCopied
    | BaselinesReady
    | NoveltyMeasured
    | YardstickUnavailable
)
