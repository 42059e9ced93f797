"""The learning-rate range test: train a copy of a model for a few hundred steps while the rate
grows geometrically, and read a good rate off the loss curve (Smith, "Cyclical Learning Rates for
Training Neural Networks", 2017; the `lr_find` of fastai).

`range_test` is a pure function of (settings, parameters, training ids, seed): it copies the
parameters, builds a fresh optimiser of the configured kind and a fresh data stream, and never
writes to what it was given, so it can run on a copy of a paused run's weights in any thread.

The suggestion is read off the smoothed loss: past its minimum the rate is too high to make
progress. For Adam it is a twentieth of the rate at the minimum, for SGD a tenth (a run of
minutes wants a rate well below that edge); for Adagrad it is the rate at the minimum itself, because Adagrad
shrinks its own steps as its squared gradients add up, so a long run sustains what the short
test did. docs/presets.md has the five-rate sweep that checks the rule on the `lstm` preset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import Config
from .flat import as_flat, flat_views
from .model import CharModel
from .optim import clip_by_global_norm, clip_by_value, global_norm, make_optimizer
from .streams import CharStreams

SMOOTHING = 0.98  # exponential smoothing of the per-step losses (bias-corrected)
BLOW_UP = 4.0  # stop once the smoothed loss is this many times its minimum
# the suggestion: this fraction of the rate at the lowest loss, by optimiser. For Adam a tenth
# (the usual rule) was twice too high: on tinyshakespeare's lstm preset the loss was lowest at
# 0.17, a tenth (0.017) scored 1.540 nats/char in 5 minutes, a twentieth (0.0085) 1.482, the best
# of a five-rate sweep 1.476 at 0.008 (docs/presets.md)
SUGGESTION_FRACTION = {"adam": 0.05, "sgd": 0.1, "adagrad": 1.0}
FRACTION_WORDS = {0.1: "a tenth", 0.05: "a twentieth"}
SKIP_START = 0.1  # the first steps' losses are all "the loss of an untrained model": skip them


@dataclass(frozen=True, eq=False)
class RangeTest:
    """What a range test saw: one rate and one loss per step taken, and the suggestion."""

    rates: np.ndarray  # (n,) the rate each step used
    losses: np.ndarray  # (n,) that step's training loss per character (nats)
    smoothed: np.ndarray  # (n,) the losses smoothed (what the suggestion reads)
    suggestion: float
    reason: str  # one line: why this rate
    stopped_early: bool  # the loss blew up before the last rate


def sweep_rates(start: float, end: float, steps: int) -> np.ndarray:
    """`steps` rates from `start` to `end`, each a constant factor above the one before."""
    if not (0 < start < end and math.isfinite(end)):
        raise ValueError(f"the rates must satisfy 0 < start < end (got {start:g}, {end:g})")
    if steps < 2:
        raise ValueError(f"a range test needs at least 2 steps (got {steps})")
    return start * (end / start) ** (np.arange(steps) / (steps - 1))


def range_test(
    config: Config,
    params: dict[str, np.ndarray],
    train_ids: np.ndarray,
    vocab_size: int,
    *,
    start: float = 1e-5,
    end: float = 1.0,
    steps: int = 300,
    seed: int = 0,
    should_abort: Callable[[], bool] | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
) -> RangeTest | None:
    """Sweep the rate from `start` to `end` over `steps` steps on a copy of `params`.

    The copy trains on `train_ids` with the batch, window, optimiser and clipping of `config`
    (fresh optimiser memory, a zero hidden state, the streams from their start; dropout masks
    drawn from `seed`, from the step a run would start them: `dropout_from_epoch`). The sweep
    stops early once the loss blows up. `should_abort` is asked before every step (None is
    returned if it says yes); `on_step(i, rate, loss)` hears each step.
    """
    rates = sweep_rates(start, end, steps)
    model = CharModel(config, vocab_size)
    shapes = model.param_shapes()
    _, work = flat_views(shapes, model.dtype)
    for name in shapes:
        work[name][...] = params[name]
    grads = model.new_grads()
    flat_params, flat_grads = as_flat(work.values()), as_flat(grads.values())
    optimizer = make_optimizer(
        config.optimizer,
        work,
        beta1=config.beta1,
        beta2=config.beta2,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    streams = CharStreams(train_ids, config.batch_size, config.seq_length)
    state = model.initial_state(config.batch_size)
    dropout_rng = np.random.default_rng([seed, 3]) if config.dropout > 0 else None
    chars_per_step = config.batch_size * config.seq_length
    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    for i, rate in enumerate(rates):
        if should_abort is not None and should_abort():
            return None
        inputs, targets, wrapped = streams.next_window()
        if wrapped:
            state[...] = 0.0
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            drops = config.drops_units_after(i * chars_per_step / len(train_ids))  # as a run
            result = model.loss_and_grads(
                work, inputs, targets, state, dropout_rng if drops else None, grads
            )
        loss = result.loss / config.seq_length
        norm = global_norm(flat_grads)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            break
        if config.clip_mode == "value":
            clip_by_value(flat_grads, config.clip)
        else:
            clip_by_global_norm(flat_grads, config.clip, norm)
        optimizer.update(flat_params, flat_grads, float(rate))
        state = result.state
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        value = average / (1 - SMOOTHING ** (i + 1))
        losses.append(loss)
        smoothed.append(value)
        if on_step is not None:
            on_step(i, float(rate), loss)
        best = min(best, value)
        if value > BLOW_UP * best:
            break
    taken = len(losses)
    suggestion, reason = suggest(rates[:taken], np.array(smoothed), config.optimizer)
    return RangeTest(
        rates=rates[:taken].copy(),
        losses=np.array(losses),
        smoothed=np.array(smoothed),
        suggestion=suggestion,
        reason=reason,
        stopped_early=taken < steps,
    )


def suggest(rates: np.ndarray, smoothed: np.ndarray, optimizer: str = "adam") -> tuple[float, str]:
    """(rate, one-line reason): SUGGESTION_FRACTION of the rate at the lowest smoothed loss,
    skipping the first steps (where every rate scores the untrained model's loss)."""
    if len(smoothed) == 0:
        rate = float(rates[0]) if len(rates) else math.nan
        return rate, "the loss was not finite even at the lowest rate; lower the range"
    skip = min(int(len(smoothed) * SKIP_START), len(smoothed) - 1)
    lowest = skip + int(np.argmin(smoothed[skip:]))
    at = float(rates[lowest])
    fraction = SUGGESTION_FRACTION[optimizer]
    rate = float(f"{at * fraction:.2g}")  # as a person would type it
    where = "at the top of the range" if lowest == len(smoothed) - 1 else "before it rose"
    lowest_loss = f"the smoothed loss was lowest ({smoothed[lowest]:.3f} nats/char) {where}"
    if fraction == 1.0:
        return rate, f"{optimizer} at {at:.2g}, where {lowest_loss}; it shrinks its own steps"
    return rate, f"{FRACTION_WORDS[fraction]} of {at:.2g}, where {lowest_loss}"
