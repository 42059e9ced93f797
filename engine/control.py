"""The control surface of a run, as a front end sees it: events out, commands in, static facts.

`RunControl` is what the dashboard and the headless runner hold. The Trainer is one (in this
process); a client of a run in another process can be another, by implementing the three
primitives (`info`, `submit`, `run`): the shorthands below are written once, on top of `submit`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .commands import (
    Command,
    Pause,
    RequestSample,
    RequestWeights,
    Resume,
    RollBack,
    SaveCheckpoint,
    Stop,
    UpdateHparams,
)
from .config import LIVE_HPARAMS, ConfigError, check, parse
from .events import Event, RunInfo
from .yardsticks import YardstickOptions, Yardsticks

_tags = itertools.count(1)


class RunControl:
    """Steer a run with commands; watch it through the events `run` publishes."""

    def info(self) -> RunInfo:
        """What does not change while the run trains (and the samples drawn so far)."""
        raise NotImplementedError

    def submit(self, command: Command) -> None:
        """Validate `command` in the caller's thread (raising what is wrong) and send it on."""
        raise NotImplementedError

    def run(self, publish: Callable[[Event], None], should_stop: Callable[[], bool]) -> str:
        """Block while the run goes on, passing every event to `publish`; return why it ended."""
        raise NotImplementedError

    # -- shorthands -------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop after the current step and wait (commands are still served while paused)."""
        self.submit(Pause())

    def resume(self) -> None:
        """Continue training after a pause."""
        self.submit(Resume())

    def stop(self) -> None:
        """End the run after the current step (works while paused)."""
        self.submit(Stop())

    def leave(self) -> None:
        """The front end goes away without having said stop or detach: a run in this process
        stops (nothing else would), a run in another process goes on (engine/client.py)."""
        self.stop()

    def update(self, **hparams: Any) -> dict[str, Any]:
        """New live hyperparameters (numbers, or text as a person typed it); ConfigError here if
        any is invalid. Returns the values as they will be applied."""
        unknown = sorted(set(hparams) - set(LIVE_HPARAMS))
        if unknown:
            raise ConfigError(
                f"cannot change {', '.join(unknown)} while training; "
                f"live settings: {', '.join(LIVE_HPARAMS)}"
            )
        changes = {
            name: parse(name, value) if isinstance(value, str) else check(name, value)
            for name, value in hparams.items()
        }
        self.submit(UpdateHparams(changes))
        return changes

    def request_checkpoint(self, path: str | Path | None = None) -> None:
        """Save between steps; a CheckpointSaved or CheckpointFailed event follows."""
        self.submit(SaveCheckpoint(None if path is None else str(path)))

    def request_sample(
        self,
        seed: str,
        length: int = 200,
        temperature: float = 1.0,
        *,
        greedy: bool = False,
        top_k: int = 0,
        rng_seed: int | None = None,
        tag: str | None = None,
    ) -> str:
        """Ask for a sample from `seed`; a SampleReady with the returned tag follows."""
        tag = tag or f"sample-{next(_tags)}"
        self.submit(RequestSample(seed, length, temperature, greedy, top_k, rng_seed, tag))
        return tag

    def request_weights(self, tag: str | None = None, train_chars: int = 0) -> str:
        """Ask for a copy of the parameters between steps (for the neuron view and the cell
        finder; with `train_chars` of the training text for the learning-rate finder); a
        WeightsCopied with the returned tag follows."""
        tag = tag or f"weights-{next(_tags)}"
        self.submit(RequestWeights(tag, train_chars))
        return tag

    def request_rollback(self, learning_rate: float | None = None) -> None:
        """After a divergence: restore the last good checkpoint, at most at `learning_rate`
        and never above the rate that checkpoint was trained with."""
        self.submit(RollBack(learning_rate))


class LocalRun(RunControl):
    """A Trainer in this process, run under a given policy (the dashboard's, a server's), with
    the yardsticks' background workers beside it when `yardsticks` says which (their events
    arrive through the same `publish`)."""

    def __init__(self, trainer: Any, policy: Any, yardsticks: YardstickOptions | None = None):
        self.trainer = trainer
        self.policy = policy
        self.yardsticks = yardsticks

    def info(self) -> RunInfo:
        return self.trainer.info()

    def submit(self, command: Command) -> None:
        self.trainer.submit(command)

    def run(self, publish: Callable[[Event], None], should_stop: Callable[[], bool]) -> str:
        if self.yardsticks is None:
            return self.train(publish, should_stop)
        workers = Yardsticks.for_trainer(self.trainer, self.yardsticks)
        try:
            return self.train(workers.attach(publish), should_stop)
        finally:
            workers.stop()

    def train(self, publish: Callable[[Event], None], should_stop: Callable[[], bool]) -> str:
        """The Trainer's run loop (a subclass with limits overrides this, not `run`, and keeps
        the yardsticks)."""
        return self.trainer.run(publish, should_stop, policy=self.policy)
