"""Schedules that follow the budget (engine/schedule.py): the rate each step uses is the formula's
at the training time or step it is taken, reaches the floor exactly at the budget, restarts in
cycles past it, and continues bit-exactly through a checkpoint.

Training time comes from a fake clock (`Trainer.clock`) that advances by a chosen amount during
each step, so every elapsed time below is known in advance and nothing depends on the machine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_tui.engine import Config, Trainer, resume_trainer
from rnn_tui.engine.metrics_log import metrics_record
from rnn_tui.engine.persistence import upgraded_config
from rnn_tui.engine.schedule import Horizon, describe, rate_at

BASE, FLOOR, WARMUP = 0.02, 0.0005, 3
CONFIG = Config(
    cell="lstm",
    hidden_size=12,
    num_layers=1,
    batch_size=2,
    seq_length=8,
    optimizer="adam",
    learning_rate=BASE,
    schedule="cosine",
    min_lr=FLOOR,
    warmup_steps=WARMUP,
    clip_mode="norm",
    val_every=0,
    sample_every=0,
    dtype="float64",
)


class StepClock:
    """A clock that moves only while a step runs: each pair of reads (before, after a step) is
    `durations[k]` apart, so step k adds exactly that much training time."""

    def __init__(self, durations: list[float], start: float = 100.0):
        self.durations = list(durations)
        self.now = start
        self.reads = 0

    def __call__(self) -> float:
        if self.reads % 2 == 1:  # the read after a step
            self.now += self.durations[self.reads // 2]
        self.reads += 1
        return self.now


def record_rates(trainer: Trainer) -> list[tuple[int, float, float]]:
    """(step, elapsed before it, rate given to the optimiser) for every update from now on."""
    seen: list[tuple[int, float, float]] = []
    update = trainer.optimizer.update

    def spy(flat_params, flat_grads, lr):
        seen.append((trainer.step_count, trainer.elapsed, lr))
        update(flat_params, flat_grads, lr)

    trainer.optimizer.update = spy
    return seen


def cosine_rate(step: int, position: float, length: float) -> float:
    """The schedule written out plainly: warm-up, then a half cosine from BASE to FLOOR over the
    first `length`, then cycles twice as long each time."""
    if step < WARMUP:
        return BASE * (step + 1) / WARMUP
    begin, span = 0.0, length
    while position > begin + span:
        begin, span = begin + span, span * 2
    progress = (position - begin) / span
    return FLOOR + (BASE - FLOOR) * (1 + math.cos(math.pi * progress)) / 2


def test_a_time_budget_gives_each_step_the_formulas_rate_at_its_training_time(small_text):
    durations = [0.25, 0.5, 1.0, 0.75, 1.5, 0.25, 2.0, 0.5, 1.25, 1.0, 0.5, 0.5]  # sum 10.0
    trainer = Trainer(CONFIG, small_text)
    trainer.clock = StepClock(durations)
    trainer.set_budget("seconds", 10.0)
    rates = record_rates(trainer)
    assert trainer.run(lambda e: None, max_seconds=10.0) == "time"
    assert len(rates) == len(durations)
    elapsed = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    for (step, before, rate), expected_elapsed in zip(rates, elapsed, strict=True):
        assert before == pytest.approx(expected_elapsed, abs=1e-12)
        assert rate == pytest.approx(cosine_rate(step, before, 10.0), rel=1e-12)
    # the rate at the budget itself is the floor, exactly; the next step would restart
    assert trainer.elapsed == 10.0
    assert trainer.current_learning_rate() == FLOOR
    assert trainer.learning_rate_at(50, elapsed=10.0) == FLOOR
    assert trainer.learning_rate_at(50, elapsed=10.5) == pytest.approx(cosine_rate(50, 10.5, 10.0))
    after_warmup = [rate for step, _, rate in rates if step >= WARMUP]
    assert all(np.diff(after_warmup) < 0)


@pytest.mark.parametrize("speed", [0.1, 1.0, 7.0])
def test_the_floor_is_reached_at_the_budget_however_fast_the_machine_is(small_text, speed):
    steps = round(12 / speed) if speed < 1 else 12
    trainer = Trainer(CONFIG, small_text)
    trainer.clock = StepClock([speed] * (steps + 5))
    budget = speed * steps  # exact in binary for these speeds up to rounding of the sum
    trainer.set_budget("seconds", budget)
    rates = record_rates(trainer)
    trainer.run(lambda e: None, max_seconds=budget - 1e-9)
    assert len(rates) == steps
    position = trainer.elapsed
    assert trainer.learning_rate_at(steps, elapsed=budget) == FLOOR
    # the last update was taken one step's time before the budget: one step short of the floor
    assert rates[-1][2] == pytest.approx(cosine_rate(steps - 1, position - speed, budget))
    assert rates[-1][2] > FLOOR


def test_a_step_budget_decays_over_its_steps_and_restarts_past_them(small_text):
    trainer = Trainer(CONFIG, small_text)
    trainer.set_budget("steps", 10)
    rates = record_rates(trainer)
    trainer.run(lambda e: None, max_steps=25)
    for step, _, rate in rates:
        assert rate == pytest.approx(cosine_rate(step, step, 10), rel=1e-12)
    assert trainer.learning_rate_at(10) == FLOOR
    assert trainer.learning_rate_at(30) == FLOOR  # the end of the second cycle (10 + 20)
    assert rates[11][2] > rates[10][2]  # the restart after the budget
    assert describe(trainer.config, trainer.horizon, 4, 0.0) == "cosine 4/10 steps"
    assert describe(trainer.config, trainer.horizon, 14, 0.0) == "cycle 2: 4/20 steps"


def test_an_open_ended_run_restarts_in_cycles_of_cycle_minutes_twice_as_long_each_time():
    config = CONFIG.replace(cycle_minutes=0.5, warmup_steps=0)  # cycles of 30, 60, 120 s
    horizon = Horizon.open_ended(config)
    assert not horizon.budget and horizon.length == 30.0
    for seconds in (0.0, 7.5, 29.0, 30.0, 30.001, 60.0, 89.9, 90.0, 91.0, 210.0, 400.0):
        assert rate_at(config, horizon, 99, seconds) == pytest.approx(
            cosine_rate(99, seconds, 30.0), rel=1e-12
        )
    for end in (30.0, 90.0, 210.0):
        assert rate_at(config, horizon, 99, end) == FLOOR
    assert rate_at(config, horizon, 99, 0.0) == BASE
    assert horizon.end(99, 45.0) == 90.0
    assert describe(config, horizon, 99, 45.0) == "cycle 2: 0:15/1:00"


def test_the_time_based_schedule_is_restored_bit_exactly_on_resume(small_text, tmp_path):
    # binary fractions: a duration is the same difference whatever the clock's reading
    durations = [0.375, 0.75, 0.4375, 1.125, 0.25, 0.875, 0.625, 0.3125, 0.8125, 0.5] * 2
    n = len(durations) // 2
    straight = Trainer(CONFIG, small_text)
    straight.clock = StepClock(durations)
    straight.set_budget("seconds", 12.0)
    straight_rates = record_rates(straight)
    straight.run(lambda e: None, max_steps=2 * n)

    first = Trainer(CONFIG, small_text)
    first.clock = StepClock(durations[:n])
    first.set_budget("seconds", 12.0)
    first_rates = record_rates(first)
    first.run(lambda e: None, max_steps=n)
    first.save(tmp_path / "half.npz")
    resumed = resume_trainer(tmp_path / "half.npz", small_text)
    assert resumed.horizon == first.horizon and resumed.elapsed == first.elapsed
    assert resumed.current_learning_rate() == first.current_learning_rate()
    resumed.clock = StepClock(durations[n:], start=-5.0)  # another process's clock
    resumed_rates = record_rates(resumed)
    resumed.run(lambda e: None, max_steps=2 * n)

    assert first_rates + resumed_rates == straight_rates  # bit for bit: steps, times and rates
    for name, param in straight.params.items():
        np.testing.assert_array_equal(resumed.params[name], param)


def test_a_new_budget_on_resume_starts_a_new_cosine_from_where_the_run_stands(small_text, tmp_path):
    trainer = Trainer(CONFIG, small_text)
    trainer.clock = StepClock([1.0] * 8)
    trainer.set_budget("seconds", 6.0)
    trainer.run(lambda e: None, max_seconds=6.0)
    assert trainer.budget_left() is None  # spent
    trainer.save(tmp_path / "done.npz")
    resumed = resume_trainer(tmp_path / "done.npz", small_text)
    assert resumed.current_learning_rate() == FLOOR
    resumed.set_budget("seconds", 60.0)
    assert resumed.horizon == Horizon("seconds", 6.0, 60.0, budget=True)
    assert resumed.current_learning_rate() == BASE  # the new cosine starts at the base
    assert resumed.budget_left() == ("seconds", 60.0)
    assert resumed.learning_rate_at(resumed.step_count, elapsed=66.0) == FLOOR


def test_an_interrupted_budget_is_what_is_left_to_train(small_text):
    trainer = Trainer(CONFIG, small_text)
    trainer.clock = StepClock([0.5] * 4)
    trainer.set_budget("seconds", 5.0)
    trainer.run(lambda e: None, max_steps=4)
    assert trainer.budget_left() == ("seconds", 3.0)
    trainer.set_budget("steps", 10)
    assert trainer.budget_left() == ("steps", 10)
    trainer.set_budget(None)
    assert trainer.budget_left() is None and trainer.horizon.start == 2.0


def test_snapshots_and_the_metrics_log_carry_the_schedule_and_its_horizon(small_text):
    trainer = Trainer(CONFIG, small_text)
    trainer.clock = StepClock([2.0] * 10)
    trainer.set_budget("seconds", 300.0)
    trainer.run(lambda e: None, max_steps=5)
    snap = trainer.snapshot()
    assert snap.schedule == "cosine 0:10/5:00"
    assert (snap.horizon_unit, snap.horizon_end) == ("seconds", 300.0)
    assert snap.scheduled_learning_rate == trainer.current_learning_rate()
    record = metrics_record(snap)
    assert record["schedule"] == "cosine 0:10/5:00"
    assert (record["horizon_unit"], record["horizon_end"]) == ("seconds", 300.0)

    fixed = Trainer(CONFIG.replace(total_steps=40), small_text)  # a fixed step count
    assert fixed.snapshot().horizon_unit is None
    assert fixed.snapshot().schedule == "warm-up 0/3"
    constant = Trainer(Config(), small_text)
    assert constant.snapshot().schedule == "constant"
    assert metrics_record(constant.snapshot())["horizon_end"] is None


def test_older_checkpoints_keep_their_schedule():
    # before cycle_minutes, a cosine without total_steps was constant after its warm-up
    old = {"schedule": "cosine", "total_steps": 0, "learning_rate": 0.01, "min_lr": 0.001}
    assert upgraded_config(old)["schedule"] == "constant"
    fixed = {"schedule": "cosine", "total_steps": 4300, "learning_rate": 0.005}
    assert upgraded_config(fixed) == dict(fixed, min_lr=0.1 * 0.005)
    new = dict(old, cycle_minutes=5.0)
    assert upgraded_config(new) == new


def test_a_checkpoint_without_a_horizon_resumes_open_ended(small_text, tmp_path):
    from rnn_tui.engine.checkpoint import read_meta, save_checkpoint
    from rnn_tui.engine.persistence import checkpoint_data

    trainer = Trainer(CONFIG, small_text)
    trainer.set_budget("steps", 10)
    trainer.run(lambda e: None, max_steps=3)
    data = checkpoint_data(trainer)
    del data.meta["schedule_horizon"]  # as rnn-tui wrote them before budgets
    save_checkpoint(tmp_path / "old.npz", data)
    assert "schedule_horizon" not in read_meta(tmp_path / "old.npz")
    resumed = resume_trainer(tmp_path / "old.npz", small_text)
    assert resumed.horizon == Horizon.open_ended(CONFIG)


@pytest.mark.parametrize(
    "bad",
    [
        {"unit": "hours", "start": 0, "length": 1, "budget": True},
        {"unit": "steps", "start": -1, "length": 1, "budget": True},
        {"unit": "steps", "start": 0, "length": 0, "budget": True},
        {"unit": "seconds", "start": 0, "length": math.inf, "budget": True},
        {"unit": "seconds", "start": 0, "length": 5, "budget": "yes"},
        {"unit": "seconds", "start": 0},
        [1, 2],
    ],
)
def test_a_malformed_horizon_is_refused(bad):
    with pytest.raises(ValueError):
        Horizon.from_dict(bad)
