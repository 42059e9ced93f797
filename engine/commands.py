"""Commands into a running Trainer: frozen dataclasses of plain data, the mirror of engine.events.

A front end (the dashboard, the headless runner, a remote viewer through a socket) steers a run
only by submitting these; the Trainer validates each in the caller's thread and applies it in
the training thread between steps. Being plain data, a command can cross a process boundary as
JSON and a remote dashboard cannot tell its run from an in-process one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pause:
    """Stop after the current step and wait (commands are still served while paused)."""


@dataclass(frozen=True)
class Resume:
    """Continue training after a pause."""


@dataclass(frozen=True)
class Stop:
    """End the run after the current step (works while paused)."""


@dataclass(frozen=True)
class UpdateHparams:
    """New values of live hyperparameters, applied before the next step."""

    changes: Mapping[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True)
class SaveCheckpoint:
    """Write a checkpoint between steps (to `path`, or to the run's own store when None)."""

    path: str | None = None


@dataclass(frozen=True)
class RequestSample:
    """Generate text from `seed` with the current weights; a SampleReady with `tag` answers it."""

    seed: str
    length: int = 200
    temperature: float = 1.0
    greedy: bool = False
    top_k: int = 0
    rng_seed: int | None = None  # None: a fresh stream per request, reproducible from the run seed
    tag: str = ""  # chosen by the requester to recognise its answer among everyone's


@dataclass(frozen=True)
class RollBack:
    """After a divergence: restore the last good checkpoint (and optionally lower the rate)."""

    learning_rate: float | None = None


@dataclass(frozen=True)
class RequestWeights:
    """A copy of the parameters as they are between two steps, for probing (the neuron view);
    a WeightsCopied with `tag` answers it. Training goes on undisturbed."""

    tag: str = ""  # chosen by the requester to recognise its answer among everyone's
    train_chars: int = 0  # also this much of the training text, from its start (the lr finder)


Command = (
    Pause
    | Resume
    | Stop
    | UpdateHparams
    | SaveCheckpoint
    | RequestSample
    | RollBack
    | RequestWeights
)
