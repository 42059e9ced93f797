"""The learning-rate schedule over a run's budget: a cosine that spans the steps or the seconds of
training a run is given, and that restarts (each cycle twice as long) once past it or when the
run has no budget at all.

A schedule has two parts. The shape is a setting (engine/config.py: `schedule`, `warmup_steps`,
`min_lr`, `cycle_minutes`, ...). The `Horizon` belongs to the run, not to its settings: the budget
this run was given (`--minutes`, `--steps`), measured from where the run stood when it got it, or
none (the dashboard, open-ended). It is saved in checkpoints, so a resumed run continues its
schedule exactly; a resumed run given a new budget starts a new cosine over that budget.

A time budget follows the run's training time (`Trainer.elapsed`, pauses excluded): the rate of
each step is read off the clock, so the rate reaches its floor exactly when the budget runs out,
however fast or loaded the machine is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from .config import Config
from .optim import learning_rate_at

HorizonUnit = Literal["steps", "seconds"]
HORIZON_UNITS: tuple[str, ...] = ("steps", "seconds")


@dataclass(frozen=True)
class Horizon:
    """What the cosine spans: `length` steps or seconds of training from `start` (the step count
    or the training seconds when the run got its budget). `budget` is False for an open-ended run,
    whose first cycle is the config's `cycle_minutes`."""

    unit: HorizonUnit
    start: float
    length: float
    budget: bool

    def __post_init__(self) -> None:
        if self.unit not in HORIZON_UNITS:
            raise ValueError(f"horizon unit must be steps or seconds (got {self.unit!r})")
        for name in ("start", "length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"horizon {name} must be a number (got {value!r})")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"horizon {name} must be finite and not negative (got {value})")
        if not self.length > 0:
            raise ValueError("horizon length must be positive")
        if not isinstance(self.budget, bool):
            raise ValueError("horizon budget must be true or false")

    @classmethod
    def open_ended(cls, config: Config, elapsed: float = 0.0) -> Horizon:
        """No budget: cycles of training time from `elapsed`, the first `cycle_minutes` long."""
        return cls("seconds", float(elapsed), config.cycle_minutes * 60.0, budget=False)

    def position(self, step: int, elapsed: float) -> float:
        """Steps or seconds of this horizon done so far (0 before its start)."""
        at = step if self.unit == "steps" else elapsed
        return max(0.0, at - self.start)

    def cycle(self, position: float) -> tuple[int, float, float]:
        """(cycle number from 1, where that cycle starts, its length), as positions.

        Cycles are half-open on the left, (start, start + length], so the end of the budget
        itself still belongs to the first cycle: its rate there is the floor, exactly.
        """
        number, begin, length = 1, 0.0, self.length
        while position > begin + length:
            begin += length
            length *= 2.0
            number += 1
        return number, begin, length

    def progress(self, step: int, elapsed: float) -> float:
        """0 at the start of the current cycle, 1 at its end."""
        position = self.position(step, elapsed)
        _, begin, length = self.cycle(position)
        return (position - begin) / length

    def end(self, step: int, elapsed: float) -> float:
        """Where the current cycle ends, in the horizon's unit (absolute: a step count or
        training seconds): the end of the budget until it is reached."""
        _, begin, length = self.cycle(self.position(step, elapsed))
        return self.start + begin + length

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (checkpoint metadata)."""
        return {
            "unit": self.unit,
            "start": self.start,
            "length": self.length,
            "budget": self.budget,
        }

    @classmethod
    def from_dict(cls, values: Any) -> Horizon:
        """Inverse of to_dict (ValueError if malformed)."""
        if not isinstance(values, dict):
            raise ValueError(f"a schedule horizon must be a mapping (got {type(values).__name__})")
        try:
            return cls(values["unit"], values["start"], values["length"], values["budget"])
        except KeyError as exc:
            raise ValueError(f"schedule horizon lacks {exc}") from None


def follows_horizon(config: Config) -> bool:
    """Whether the rate depends on the run's horizon: a cosine without a fixed step count."""
    return config.schedule == "cosine" and config.total_steps == 0


def rate_at(config: Config, horizon: Horizon, step: int, elapsed: float) -> float:
    """The learning rate of the (0-based) step `step`, taken after `elapsed` seconds of training.

    Linear warm-up over the first `warmup_steps` steps of the run; then, for a cosine that follows
    the horizon, base -> min_lr over the current cycle. Every other schedule is the step formula
    of engine.optim.learning_rate_at.
    """
    base = config.learning_rate
    if not follows_horizon(config):
        return learning_rate_at(
            step,
            base,
            config.schedule,
            config.warmup_steps,
            config.decay_steps,
            config.decay_rate,
            config.total_steps,
            config.min_lr,
        )
    if config.warmup_steps and step < config.warmup_steps:
        return base * (step + 1) / config.warmup_steps
    floor = min(config.min_lr, base)
    progress = horizon.progress(step, elapsed)
    return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def describe(config: Config, horizon: Horizon, step: int, elapsed: float) -> str:
    """What the schedule is doing, in a few words (it fits a panel's border): 'cosine 2:10/5:00'
    (a time budget), 'cosine 400/1,000 steps', 'cycle 2: 1:00/10:00' (open-ended, or past the
    budget), 'warm-up 40/100', 'cosine to step 4,300', 'constant' ..."""
    if config.warmup_steps and step < config.warmup_steps:
        return f"warm-up {step}/{config.warmup_steps}"
    if not follows_horizon(config):
        if config.schedule == "cosine":
            return f"cosine to step {config.total_steps:,}"
        if config.schedule == "step":
            return f"x{config.decay_rate:g} every {config.decay_steps:,} steps"
        return "constant"
    position = horizon.position(step, elapsed)
    number, begin, length = horizon.cycle(position)
    if horizon.unit == "steps":
        done = f"{position - begin:,.0f}/{length:,.0f} steps"
    else:
        done = f"{_clock(position - begin)}/{_clock(length)}"
    if number == 1 and horizon.budget:
        return f"cosine {done}"
    return f"cycle {number}: {done}"


def _clock(seconds: float) -> str:
    """'4:05', '1:02:03'."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
