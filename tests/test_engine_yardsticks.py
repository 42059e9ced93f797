"""The yardsticks' background workers (engine/yardsticks.py) through the paths a run uses.

- the baselines a run publishes are compute_baselines on exactly the ids the Trainer scores
  (its split, the first --val-chars), then read back from the cache;
- planted copies in periodic samples are found exactly, through Trainer -> LocalRun -> the
  workers -> NoveltyMeasured -> the JSONL record; a sample with no copy reports 0;
- no validation split: a YardstickUnavailable, not a crash; stop() ends the workers.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rnn_tui.engine import Config, RunPolicy, SampleReady, Trainer, Vocab, yardsticks
from rnn_tui.engine.control import LocalRun
from rnn_tui.engine.events import BaselinesReady, NoveltyMeasured, YardstickUnavailable
from rnn_tui.engine.metrics_log import metrics_record
from rnn_tui.engine.ngram import compute_baselines
from rnn_tui.engine.yardsticks import YardstickOptions, Yardsticks

ALPHABET = "abcdefghijklmnopqrstuvwxyz "


def random_text(chars: int, seed: int = 0) -> str:
    """Letters at random: a stretch of 12+ characters occurs in it once, if at all."""
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(ALPHABET), size=chars))


def collect(events: list, wanted: type, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in list(events):
            if isinstance(event, wanted):
                return event
        time.sleep(0.01)
    raise AssertionError(f"no {wanted.__name__} within {timeout} s")


def test_the_published_baselines_score_what_the_trainer_scores_and_are_cached(tmp_path):
    config = Config(hidden_size=8, seq_length=8, val_fraction=0.2, val_max_chars=700)
    trainer = Trainer(config, random_text(6000))
    options = YardstickOptions(cache_dir=tmp_path, order=4, novelty=False)
    events: list = []
    first = Yardsticks.for_trainer(trainer, options)
    first.attach(events.append)
    ready = first.wait_for_baselines(timeout=20)
    first.stop()
    assert isinstance(ready, BaselinesReady) and not ready.cached
    scored = trainer.val_ids[:701]  # what Trainer.evaluate scores with val_max_chars 700
    expected = compute_baselines(trainer.train_ids, scored, len(trainer.vocab), 4)
    assert ready.baselines == expected and ready.val_chars == 701
    assert events == [ready]
    again = Yardsticks.for_trainer(trainer, options)
    again.attach(lambda event: None)
    cached = again.wait_for_baselines(timeout=20)
    again.stop()
    assert cached.cached and cached.baselines == expected
    all_of_it = Trainer(config.replace(val_max_chars=0), random_text(6000))
    whole = Yardsticks.for_trainer(all_of_it, options)
    whole.attach(lambda event: None)
    on_all = whole.wait_for_baselines(timeout=20)
    whole.stop()
    assert not on_all.cached  # another key: the whole split, not its first 701 ids
    assert on_all.val_chars == len(trainer.val_ids)


def test_planted_copies_are_found_through_a_running_trainer():
    text = random_text(8000, seed=1)
    config = Config(hidden_size=8, seq_length=8, sample_every=0, val_every=0)
    # Q is in the vocabulary but never in the text: a copy cannot extend into it
    trainer = Trainer(config, text, vocab=Vocab.from_text(text + "Q"))
    planted = text[2000:2023]  # 23 characters of the training text, flanked by Q
    first = "QQQQ" + planted + "QQQQ"
    trainer.samples.append((7, first))  # drawn before the run started: measured first
    run = LocalRun(trainer, RunPolicy(snapshot_interval=0.05), YardstickOptions(order=0))
    events: list = []
    stop = threading.Event()
    thread = threading.Thread(target=run.run, args=(events.append, stop.is_set))
    thread.start()
    try:
        measured = collect(events, NoveltyMeasured)
        assert measured.step == 7 and measured.text == first
        assert measured.novelty.longest_copy == 23
        assert measured.novelty.longest_text(first) == planted
        assert measured.novelty.copied_fraction == pytest.approx(23 / len(first))
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_samples_reach_the_novelty_worker_and_the_jsonl_record():
    text = random_text(8000, seed=2)
    trainer = Trainer(Config(hidden_size=8, seq_length=8), text)
    workers = Yardsticks.for_trainer(trainer, YardstickOptions(order=0))
    events: list = []
    publish = workers.attach(events.append)  # what the Trainer would be given
    copy = text[100:140]
    publish(SampleReady(text=copy, seed="a", step=40, requested=False))
    measured = collect(events, NoveltyMeasured)
    workers.stop()
    assert measured.step == 40 and measured.novelty.longest_copy == 40
    assert measured.novelty.copied_fraction == 1.0
    record = metrics_record(trainer.snapshot(), None, measured)
    assert record["longest_copy"] == 40 and record["copied_fraction"] == 1.0
    assert record["novelty_step"] == 40


def test_a_sample_with_no_copy_reports_zero():
    train_part = random_text(5000, seed=3)
    text = train_part + "ZZZZ" * 200  # Z only in the validation tenth
    trainer = Trainer(Config(hidden_size=8, seq_length=8, val_fraction=0.2), text)
    assert "Z" not in trainer.vocab.decode(trainer.train_ids)
    workers = Yardsticks.for_trainer(trainer, YardstickOptions(order=0))
    events: list = []
    workers.attach(events.append)(SampleReady(text="ZZZZZZ", seed="Z", step=3, requested=False))
    measured = collect(events, NoveltyMeasured)
    workers.stop()
    assert measured.novelty.longest_copy == 0 and measured.novelty.copied_fraction == 0.0


def test_requested_samples_are_not_measured():
    trainer = Trainer(Config(hidden_size=8, seq_length=8), random_text(3000))
    workers = Yardsticks.for_trainer(trainer, YardstickOptions(order=0))
    events: list = []
    workers.attach(events.append)(SampleReady(text="abc", seed="a", step=1, requested=True))
    time.sleep(0.5)
    workers.stop()
    assert not any(isinstance(e, NoveltyMeasured) for e in events)


def test_no_validation_split_means_no_baselines_not_a_crash():
    trainer = Trainer(Config(hidden_size=8, seq_length=8, val_fraction=0.0), random_text(3000))
    workers = Yardsticks.for_trainer(trainer, YardstickOptions(novelty=False))
    events: list = []
    workers.attach(events.append)
    result = workers.wait_for_baselines(timeout=10)
    workers.stop()
    assert isinstance(result, YardstickUnavailable) and result.what == "baselines"
    assert "validation" in result.reason and events == [result]


def test_stop_ends_the_workers_and_nothing_is_published_after():
    trainer = Trainer(Config(hidden_size=8, seq_length=8), random_text(200_000, seed=4))
    workers = Yardsticks.for_trainer(trainer, YardstickOptions(order=6))
    events: list = []
    workers.attach(events.append)
    workers.stop(timeout=10)
    assert all(not t.is_alive() for t in workers._threads)
    published = len(events)
    time.sleep(0.2)
    assert len(events) == published


def test_texts_too_large_to_measure_beside_a_run_are_left_alone(monkeypatch):
    monkeypatch.setattr(yardsticks, "MAX_CHARS", 1000)
    trainer = Trainer(Config(hidden_size=8, seq_length=8), random_text(3000))
    workers = Yardsticks.for_trainer(trainer, YardstickOptions())
    events: list = []
    workers.attach(events.append)
    result = workers.wait_for_baselines(timeout=10)
    time.sleep(0.2)
    workers.stop()
    assert isinstance(result, YardstickUnavailable) and "more than the 1,000" in result.reason
    assert {e.what for e in events if isinstance(e, YardstickUnavailable)} == {
        "baselines",
        "novelty",
    }
