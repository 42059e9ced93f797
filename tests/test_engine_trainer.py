"""Trainer control from another thread: pause, resume, stop, live hyperparameters, checkpoints, samples.

`trainer.run` runs in a `threading.Thread`, as under the TUI; the test thread steers it through the
public commands and watches the published events. Waits poll with timeouts (no fixed long sleeps);
"the same training" is checked bit-exactly against twin trainers stepped without any commands.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from rnn_tui.engine import (
    CheckpointError,
    CheckpointFailed,
    CheckpointSaved,
    Config,
    ConfigError,
    HyperparametersChanged,
    RunPolicy,
    SampleReady,
    Snapshot,
    Trainer,
    TrainingFailed,
    VocabError,
    resume_trainer,
)
from rnn_tui.engine.sampler import sample_text

CONFIG = Config(
    hidden_size=32,
    batch_size=2,
    seq_length=16,
    val_fraction=0.1,
    val_every=40,
    val_max_chars=500,
    sample_every=20,
    sample_length=30,
)
TIMEOUT = 20.0  # generous: the machine is shared; a healthy test waits far less


class Harness:
    """Runs trainer.run in a thread and records every published event."""

    def __init__(self, trainer: Trainer, **run_kwargs):
        self.trainer = trainer
        self.events: list = []
        self.result: str | None = None
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, kwargs=run_kwargs, daemon=True)

    def _publish(self, event) -> None:
        assert threading.current_thread() is self.thread, (
            "events must be published by the training thread"
        )
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def _run(self, **run_kwargs) -> None:
        try:
            self.result = self.trainer.run(self._publish, **run_kwargs)
        except BaseException as exc:  # reported by the test, never swallowed
            self.error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def start(self) -> Harness:
        self.thread.start()
        return self

    def of_type(self, kind) -> list:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT):
        """Wait until predicate() is true (re-checked on every event and every 20 ms)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                if self.error is not None:
                    raise AssertionError(
                        f"training thread failed while waiting for {what}"
                    ) from self.error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
                self._cond.wait(min(remaining, 0.02))

    def wait_event(self, kind, what: str, where: Callable = lambda e: True):
        """The first published event of `kind` satisfying `where`."""

        def found():
            return next((e for e in self.events if isinstance(e, kind) and where(e)), None)

        return self.wait_for(found, what)

    def wait_paused(self) -> Snapshot:
        return self.wait_event(Snapshot, "a paused snapshot", lambda s: s.run_state == "paused")

    def join(self, timeout: float = TIMEOUT) -> str | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run() did not return"
        if self.error is not None:
            raise AssertionError("training thread raised") from self.error
        return self.result


@pytest.fixture
def harnesses():
    """Harnesses made by a test are stopped and joined afterwards, whatever happened."""
    made: list[Harness] = []

    def make(trainer: Trainer, **run_kwargs) -> Harness:
        h = Harness(trainer, **run_kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.trainer.stop()
        h.thread.join(TIMEOUT)


def twin_steps(
    text: str, steps: int, config: Config = CONFIG, changes_at: dict[int, dict] | None = None
) -> Trainer:
    """A trainer stepped directly (no thread, no commands), with hyperparameter changes before given steps."""
    trainer = Trainer(config, text)
    for i in range(steps):
        if changes_at and i in changes_at:
            trainer.config = trainer.config.replace(**changes_at[i])
        trainer.train_step()
    return trainer


def assert_same_params(a: Trainer, b: Trainer) -> None:
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name


def test_pause_freezes_the_step_counter_and_resume_continues(small_text, harnesses):
    trainer = Trainer(CONFIG, small_text)
    h = harnesses(trainer).start()
    h.wait_for(lambda: trainer.step_count >= 5, "a few steps")
    trainer.pause()
    assert trainer.paused
    paused = h.wait_paused()
    frozen = trainer.step_count
    assert paused.step == frozen
    deadline = time.monotonic() + 0.3  # watch for a while: not one more step
    while time.monotonic() < deadline:
        assert trainer.step_count == frozen
        time.sleep(0.01)
    trainer.resume()
    assert not trainer.paused
    h.wait_for(lambda: trainer.step_count > frozen + 5, "steps after resume")
    running_again = h.wait_event(
        Snapshot,
        "a running snapshot after the pause",
        lambda s: (
            s.run_state == "running"
            and s.step >= frozen
            and s is not paused
            and h.events.index(s) > h.events.index(paused)
        ),
    )
    assert running_again.step >= frozen
    trainer.stop()
    assert h.join() == "stopped"
    last = h.of_type(Snapshot)[-1]
    assert last.run_state == "stopped" and last.step == trainer.step_count


def test_stop_works_while_paused(small_text, harnesses):
    trainer = Trainer(CONFIG, small_text)
    trainer.pause()  # paused before the first step
    h = harnesses(trainer).start()
    h.wait_paused()
    trainer.stop()
    assert h.join() == "stopped"  # (join fails if run() has not returned within TIMEOUT)
    assert trainer.step_count == 0


def test_should_stop_callback_ends_a_paused_run(small_text, harnesses):
    trainer = Trainer(CONFIG, small_text)
    trainer.pause()
    quit_now = threading.Event()
    h = harnesses(trainer, should_stop=quit_now.is_set).start()
    h.wait_paused()
    quit_now.set()
    assert h.join(timeout=5.0) == "stopped"


def test_run_reports_why_it_ended(small_text):
    trainer = Trainer(CONFIG, small_text)
    assert trainer.run(lambda e: None, max_steps=7) == "steps"
    assert trainer.step_count == 7
    assert trainer.run(lambda e: None, max_steps=7) == "steps"
    assert trainer.step_count == 7, "max_steps is an absolute step count"
    assert trainer.run(lambda e: None, max_seconds=0.05) == "time"
    assert trainer.step_count > 7


def test_hyperparameter_change_takes_effect_at_the_next_step(small_text, harnesses):
    total = 60
    trainer = Trainer(CONFIG, small_text)
    h = harnesses(trainer, max_steps=total).start()
    h.wait_for(lambda: trainer.step_count >= 10, "ten steps")
    trainer.pause()
    h.wait_paused()
    changes = trainer.update(learning_rate="0.05")  # strings are accepted (typed in a dialog)
    assert changes == {"learning_rate": 0.05}
    event = h.wait_event(HyperparametersChanged, "the change to be applied")
    assert dict(event.changes) == {"learning_rate": 0.05}
    assert trainer.config.learning_rate == 0.05
    assert trainer.config.hidden_size == CONFIG.hidden_size  # nothing else changed
    changed_at = event.step
    assert changed_at >= 10
    after = h.wait_event(
        Snapshot, "a snapshot showing the change", lambda s: s.hparams["learning_rate"] == 0.05
    )
    assert changed_at in after.hparam_change_steps
    trainer.resume()
    assert h.join() == "steps"
    assert trainer.step_count == total

    # a twin that changes the rate before exactly that step matches bit for bit ...
    twin = twin_steps(small_text, total, changes_at={changed_at: {"learning_rate": 0.05}})
    assert_same_params(trainer, twin)
    assert list(trainer.recent_losses) == list(twin.recent_losses)
    # ... and the change mattered: one step later is different
    late = twin_steps(small_text, total, changes_at={changed_at + 1: {"learning_rate": 0.05}})
    assert not np.array_equal(late.params["Why"], trainer.params["Why"])


@pytest.mark.parametrize(
    "bad",
    [
        {"learning_rate": -1.0},
        {"learning_rate": 0},
        {"learning_rate": float("nan")},
        {"learning_rate": "fast"},
        {"learning_rate": 0.05, "temperature": 0},  # one bad value: nothing at all is applied
        {"temperature": -0.5},
        {"sample_every": 2.5},
        {"sample_length": 0},
        {"clip": 0},
        {"hidden_size": 10},  # not a live setting
        {"bogus": 1},
    ],
)
def test_invalid_update_is_refused_in_the_callers_thread_and_changes_nothing(
    small_text, harnesses, bad
):
    trainer = Trainer(CONFIG, small_text)
    trainer.pause()
    h = harnesses(trainer).start()
    h.wait_paused()
    with pytest.raises(ConfigError) as info:
        trainer.update(**bad)
    assert "\n" not in str(info.value) and str(info.value)
    # a valid change afterwards is the only one applied
    trainer.update(temperature=0.5)
    event = h.wait_event(HyperparametersChanged, "the valid change")
    assert dict(event.changes) == {"temperature": 0.5}
    trainer.stop()
    h.join()
    assert len(h.of_type(HyperparametersChanged)) == 1
    assert trainer.config == CONFIG.replace(temperature=0.5)


def test_request_checkpoint_yields_checkpoint_saved(small_text, harnesses, tmp_path):
    trainer = Trainer(CONFIG, small_text)
    with pytest.raises(CheckpointError):
        trainer.request_checkpoint()  # neither a path nor a default
    h = harnesses(trainer).start()
    h.wait_for(lambda: trainer.step_count >= 5, "a few steps")
    trainer.request_checkpoint(tmp_path / "mid.npz")
    saved = h.wait_event(CheckpointSaved, "CheckpointSaved")
    assert saved.path == str(tmp_path / "mid.npz")
    h.wait_for(lambda: trainer.step_count > saved.step + 3, "training to go on")
    trainer.stop()
    h.join()
    resumed = resume_trainer(saved.path, small_text)
    assert resumed.step_count == saved.step
    assert any(s.last_checkpoint == saved.path for s in h.of_type(Snapshot))


def test_request_checkpoint_to_the_default_path(small_text, harnesses, tmp_path):
    trainer = Trainer(CONFIG, small_text, checkpoint_path=tmp_path / "runs" / "default.npz")
    trainer.pause()  # so the request is certainly served before max_steps ends the run
    h = harnesses(trainer, max_steps=10).start()
    trainer.request_checkpoint()
    saved = h.wait_event(CheckpointSaved, "CheckpointSaved")
    assert saved.step == 0
    trainer.resume()
    assert saved.path == str(tmp_path / "runs" / "default.npz")
    assert h.join() == "steps"


def test_failed_checkpoint_write_is_an_event_and_training_goes_on(small_text, harnesses, tmp_path):
    trainer = Trainer(CONFIG, small_text)
    h = harnesses(trainer).start()
    (tmp_path / "a-folder").mkdir()
    trainer.request_checkpoint(tmp_path / "a-folder")  # a folder is in the way
    failed = h.wait_event(CheckpointFailed, "CheckpointFailed")
    assert "\n" not in failed.error
    h.wait_for(lambda: trainer.step_count > failed.step + 3, "training to go on")
    trainer.stop()
    assert h.join() == "stopped"


def test_checkpoint_below_a_file_is_a_failed_event_not_a_crash(small_text, harnesses, tmp_path):
    # Regression (see test_engine_resume): a NotADirectoryError from the temporary file's cleanup
    # used to escape save_checkpoint and try_save and kill the training thread.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    trainer = Trainer(CONFIG, small_text)
    h = harnesses(trainer).start()
    trainer.request_checkpoint(blocker / "ckpt.npz")
    h.wait_event(CheckpointFailed, "CheckpointFailed")
    trainer.stop()
    assert h.join() == "stopped"


def test_request_sample_yields_text_starting_with_the_seed(small_text, harnesses):
    trainer = Trainer(CONFIG, small_text)
    h = harnesses(trainer).start()
    h.wait_for(lambda: trainer.step_count >= 3, "a few steps")
    request_id = trainer.request_sample(seed="The", length=50, temperature=0.8)
    ready = h.wait_event(SampleReady, "the requested sample", lambda e: e.requested)
    assert ready.tag == request_id
    assert ready.seed == "The"
    assert ready.text.startswith("The")
    assert len(ready.text) == 3 + 50
    assert set(ready.text) <= set(trainer.vocab.chars)
    second = trainer.request_sample(seed="q", length=5, greedy=True)
    assert second != request_id
    greedy = h.wait_event(SampleReady, "the second sample", lambda e: e.tag == second)
    assert greedy.text.startswith("q") and len(greedy.text) == 6
    trainer.stop()
    h.join()


def test_sample_seed_outside_the_vocabulary_is_refused_with_the_vocabulary(small_text):
    trainer = Trainer(CONFIG, small_text)
    with pytest.raises(VocabError) as info:
        trainer.request_sample(seed="The \u20ac", length=10)
    message = str(info.value)
    assert "'\u20ac'" in message
    assert trainer.vocab.printable() in message  # lists what can be used
    assert "\n" not in message
    with pytest.raises(VocabError):
        trainer.request_sample(seed="", length=10)
    with pytest.raises(ConfigError):
        trainer.request_sample(seed="T", length=0)
    with pytest.raises(ConfigError):
        trainer.request_sample(seed="T", length=10, temperature=0)


def test_requesting_samples_does_not_change_training(small_text, harnesses):
    total = 50
    trainer = Trainer(CONFIG, small_text)
    trainer.pause()
    h = harnesses(trainer, max_steps=total).start()
    h.wait_paused()
    first = trainer.request_sample(seed="T", length=40)
    h.wait_event(SampleReady, "a sample while paused", lambda e: e.tag == first)
    trainer.resume()
    h.wait_for(lambda: trainer.step_count >= 10, "ten steps")
    second = trainer.request_sample(seed="Sph", length=40)
    h.wait_event(SampleReady, "a sample while running", lambda e: e.tag == second)
    assert h.join() == "steps"

    twin = Trainer(CONFIG, small_text)
    twin_events: list = []
    twin.run(twin_events.append, max_steps=total)
    assert list(trainer.recent_losses) == list(twin.recent_losses)
    assert_same_params(trainer, twin)
    assert np.array_equal(trainer.hidden_state, twin.hidden_state)

    def periodic(events):
        return [(e.step, e.text) for e in events if isinstance(e, SampleReady) and not e.requested]

    assert periodic(h.events) == periodic(twin_events)
    assert len(periodic(twin_events)) == total // CONFIG.sample_every


def test_snapshots_are_published_at_a_bounded_rate(small_text, harnesses):
    trainer = Trainer(CONFIG, small_text)
    h = harnesses(trainer)
    started = time.perf_counter()
    h.start()
    # snapshots keep coming while training: wait for four (the start one and three periodic)
    h.wait_for(lambda: len(h.of_type(Snapshot)) >= 4, "four snapshots")
    trainer.stop()
    h.join()
    duration = time.perf_counter() - started
    snapshots = h.of_type(Snapshot)
    interval = RunPolicy().snapshot_interval
    # periodic snapshots at most every interval, plus one at start and one at the end
    assert len(snapshots) <= duration / interval + 3, (len(snapshots), duration)
    assert trainer.step_count > len(snapshots), "a snapshot per step would not be rate-limited"
    steps = [s.step for s in snapshots]
    assert steps == sorted(steps)
    last = snapshots[-1]
    assert not last.train_curve.flags.writeable and not last.hidden.flags.writeable
    assert last.hidden.shape == (CONFIG.seq_length, CONFIG.hidden_size)
    assert len(last.hidden_chars) == CONFIG.seq_length


def test_nan_parameter_stops_the_run_with_training_failed(small_text, harnesses):
    trainer = Trainer(CONFIG, small_text)
    trainer.params["Why"][0, 0] = np.nan
    h = harnesses(trainer).start()
    assert h.join() == "diverged"
    failed = h.of_type(TrainingFailed)
    assert len(failed) == 1 and failed[0].step == 0
    assert "learning rate" in failed[0].reason
    last = h.of_type(Snapshot)[-1]
    assert last.run_state == "diverged" and last.message == failed[0].reason


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log(0) on the way to inf
def test_huge_learning_rate_diverges(small_text):
    trainer = Trainer(CONFIG.replace(learning_rate=100.0), small_text)
    events: list = []
    assert trainer.run(events.append, max_steps=1000) == "diverged"
    assert [type(e) for e in events].count(TrainingFailed) == 1
    assert trainer.step_count < 1000
    assert all(math.isfinite(x) for x in trainer.recent_losses)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_divergence_under_a_schedule_names_the_rate_of_the_last_update_and_its_base(small_text):
    # warm-up from 100/10 = 10: the first update uses 10, the second 20, ...
    config = CONFIG.replace(learning_rate=100.0, schedule="cosine", warmup_steps=10, total_steps=50)
    trainer = Trainer(config, small_text)
    events: list = []
    assert trainer.run(events.append, max_steps=50) == "diverged"
    (failed,) = [e for e in events if isinstance(e, TrainingFailed)]
    last = 10.0 * trainer.step_count  # the update before the diverged step
    assert f"learning rate {last:g} (schedule base 100) is probably too high" in failed.reason


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_nan_loss_names_the_rate_too(small_text):
    warming = Trainer(CONFIG.replace(warmup_steps=4), small_text)  # constant, with warm-up
    warming.train_step()
    warming.params["Why"][0, 0] = np.nan
    with pytest.raises(FloatingPointError) as caught:
        warming.train_step()
    assert "loss became nan at step 2" in str(caught.value)
    base = CONFIG.learning_rate
    assert f"learning rate {base / 4:g} (schedule base {base:g}) is probably" in str(caught.value)


def _run_record(text: str, seed: int, steps: int = 40):
    trainer = Trainer(CONFIG.replace(seed=seed), text)
    events: list = []
    trainer.run(events.append, max_steps=steps)
    samples = [e.text for e in events if isinstance(e, SampleReady)]
    requested = trainer.sample("The", 40)
    return list(trainer.recent_losses), samples, requested


def test_same_seed_gives_same_losses_and_samples(small_text):
    a, b = _run_record(small_text, 0), _run_record(small_text, 0)
    assert a == b
    losses, samples, requested = a
    assert len(losses) == 40 and len(samples) == 2 and requested.startswith("The")


def test_different_seed_gives_different_losses_and_samples(small_text):
    a, c = _run_record(small_text, 0), _run_record(small_text, 1)
    assert a[0] != c[0]
    assert a[1] != c[1]
    assert a[2] != c[2]


def test_periodic_sample_continues_from_the_next_character_like_the_video(small_text):
    # The video samples with `sample(hprev, inputs[0])`: the state after the previous window and
    # the character that comes *next* (its last target), not the last input, which the live state
    # has already consumed and which would be fed to the network twice.
    config = CONFIG.replace(batch_size=1, val_fraction=0.0, sample_length=30)
    trainer = Trainer(config, small_text)
    for _ in range(12):
        trainer.train_step()
    next_char = trainer.vocab.chars[int(trainer.train_ids[trainer.streams.offset])]
    assert next_char == small_text[12 * config.seq_length]
    rng = np.random.default_rng()
    rng.bit_generator.state = trainer.sample_rng.bit_generator.state
    expected = sample_text(
        trainer.model,
        trainer.params,
        trainer.vocab,
        next_char,
        config.sample_length,
        rng,
        temperature=config.temperature,
        top_k=config.top_k,
        state=trainer.hidden_state[:, :, :1],
    )
    event = trainer.periodic_sample()
    assert event.seed == next_char
    assert event.text == expected


def test_a_schedule_reports_the_rate_in_use_in_snapshots_progress_lines_and_logs(small_text):
    from rnn_tui.engine.metrics_log import metrics_record as snapshot_record
    from rnn_tui.tui.headless import format_progress

    decaying = Trainer(
        CONFIG.replace(schedule="cosine", total_steps=10, learning_rate=0.1, min_lr=0.01),
        small_text,
    )
    for _ in range(12):
        decaying.train_step()
    snap = decaying.snapshot()
    # the floor after the horizon
    assert snap.scheduled_learning_rate == pytest.approx(0.01)
    assert decaying.current_learning_rate() == pytest.approx(0.01)
    assert "| lr 0.01 |" in format_progress(snap)
    record = snapshot_record(snap)
    assert record["learning_rate"] == 0.1 and record["scheduled_learning_rate"] == pytest.approx(
        0.01
    )

    constant = Trainer(CONFIG, small_text)
    constant.train_step()
    snap = constant.snapshot()
    assert snap.scheduled_learning_rate is None
    assert "lr" not in format_progress(snap)
    assert snapshot_record(snap)["scheduled_learning_rate"] is None
