"""The yardsticks' background workers: the n-gram baseline table of the run's corpus and split
(engine/ngram.py) and the novelty of its periodic samples (engine/novelty.py).

They run in their own threads beside a training run and publish what they find as events
(`BaselinesReady`, `NoveltyMeasured`, `YardstickUnavailable`) through the run's own publish
callback, so a dashboard, the headless printer or a server relaying to remote viewers receives
them like any other event. The Trainer never waits for them: they read the training and
validation ids it holds (never written after construction) and the samples it publishes.

    yardsticks = Yardsticks.for_trainer(trainer, YardstickOptions(cache_dir=folder))
    publish = yardsticks.attach(publish)   # start the workers; pass this publish to the run
    try:
        trainer.run(publish, ...)
    finally:
        yardsticks.stop()

`LocalRun` (engine/control.py) does exactly that when given options; the headless runner too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .events import (
    BaselinesReady,
    Event,
    NoveltyMeasured,
    SampleReady,
    YardstickUnavailable,
)
from .ngram import Baselines, compute_baselines, load_or_compute_baselines
from .novelty import NoveltyCancelled, NoveltyIndex
from .vocab import Vocab, VocabError

DEFAULT_ORDER = 5  # --baseline-order
MAX_ORDER = 10  # higher orders cost time and stop helping (docs/baselines.md)
# Seconds between novelty measurements: the newest periodic sample each time. The dashboard
# shows a new sample every 3 s and the headless run prints one every 15 s, while the classic
# model draws several a second; measuring them all would take CPU from training.
NOVELTY_INTERVAL = 1.0
# Beside a run, larger training texts are left alone: both yardsticks peak at tens of bytes per
# character (the baselines at ~85 B/char on 3 MB), and a worker must never take the memory a
# long training run needs. `rnn-tui baselines` computes a larger table on its own.
MAX_CHARS = 16_000_000


@dataclass(frozen=True)
class YardstickOptions:
    """Which yardsticks a run computes, and where baseline tables are cached."""

    cache_dir: Path | None = None  # None: computed afresh every run
    order: int = DEFAULT_ORDER  # highest n-gram order (0: no baselines)
    novelty: bool = True


class Yardsticks:
    """Background workers for one run: start with `attach`, end with `stop`."""

    def __init__(
        self,
        train_ids: np.ndarray,
        val_ids: np.ndarray,
        vocab: Vocab,
        *,
        corpus_sha256: str,
        val_fraction: float,
        val_max_chars: int = 0,
        options: YardstickOptions = YardstickOptions(),
        samples: Sequence[tuple[int, str]] = (),
    ) -> None:
        """`val_max_chars` as the run's config says (0: all): the baselines score exactly the
        validation ids the network's validation pass scores. `samples` are (step, text) drawn
        before the run started; the newest is measured first."""
        self.train_ids = train_ids
        self.vocab = vocab
        self.options = options
        self.corpus_sha256 = corpus_sha256
        self.val_fraction = float(val_fraction)
        if val_max_chars and val_max_chars + 1 < len(val_ids):
            self.val_ids = val_ids[: val_max_chars + 1]
            self.val_chars = val_max_chars + 1  # part of the cache key: a prefix of the split
        else:
            self.val_ids = val_ids
            self.val_chars = 0  # the whole split
        self.baselines: BaselinesReady | YardstickUnavailable | None = None
        self.novelty: NoveltyMeasured | None = None
        self._stop = threading.Event()
        self._baselines_done = threading.Event()
        self._wake = threading.Condition()
        self._pending: tuple[int, str] | None = samples[-1] if samples else None
        self._threads: list[threading.Thread] = []
        self._publish: Callable[[Event], None] = lambda event: None
        self._publish_lock = threading.Lock()

    @classmethod
    def for_trainer(cls, trainer: Any, options: YardstickOptions) -> Yardsticks:
        """The yardsticks of a Trainer's corpus, split and periodic samples so far."""
        cfg = trainer.config
        return cls(
            trainer.train_ids,
            trainer.val_ids,
            trainer.vocab,
            corpus_sha256=trainer.corpus_sha256,
            val_fraction=cfg.val_fraction,
            val_max_chars=cfg.val_max_chars,
            options=options,
            samples=trainer.info().samples,
        )

    # -- lifetime ---------------------------------------------------------------------------

    def attach(self, publish: Callable[[Event], None]) -> Callable[[Event], None]:
        """Start the workers, publishing through `publish`; return the publish callback the run
        should use: it serialises the run's events with the workers' (so `publish` is never
        called from two threads at once) and hands periodic samples to the novelty worker."""
        self._publish = publish
        self._start("yardsticks-baselines", self._baselines_worker, self.options.order > 0)
        self._start("yardsticks-novelty", self._novelty_worker, self.options.novelty)
        if self.options.order <= 0:
            self._baselines_done.set()

        def run_publish(event: Event) -> None:
            self._emit(event)
            self.observe(event)

        return run_publish

    def _start(self, name: str, target: Callable[[], None], wanted: bool) -> None:
        if wanted:
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the workers to stop and wait a little for them (they are daemon threads: one
        stuck in a long NumPy call cannot keep the process alive)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_for_baselines(
        self, timeout: float | None = None, should_stop: Callable[[], bool] | None = None
    ) -> BaselinesReady | YardstickUnavailable | None:
        """Block until the baselines are known (or unavailable), `timeout` passes or
        `should_stop()` says so; the event (None if not known yet or not wanted)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._baselines_done.wait(0.05):
            if should_stop is not None and should_stop():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
        return self.baselines

    def observe(self, event: Event) -> None:
        """Hear an event of the run: a periodic sample becomes the next one to measure."""
        if isinstance(event, SampleReady) and not event.requested:
            with self._wake:
                self._pending = (event.step, event.text)
                self._wake.notify_all()

    def _emit(self, event: Event) -> None:
        with self._publish_lock:
            self._publish(event)

    # -- the workers --------------------------------------------------------------------------

    def _baselines_worker(self) -> None:
        started = time.perf_counter()
        try:
            event = self._baselines(started)
        except (ValueError, MemoryError) as exc:
            event = YardstickUnavailable("baselines", str(exc))
        if event is not None and not self._stop.is_set():
            self.baselines = event
            self._emit(event)
        self._baselines_done.set()

    def _too_large(self, what: str) -> YardstickUnavailable | None:
        if len(self.train_ids) <= MAX_CHARS:
            return None
        return YardstickUnavailable(
            what,  # type: ignore[arg-type]
            f"the training text has {len(self.train_ids):,} characters, more than the "
            f"{MAX_CHARS:,} computed beside a run",
        )

    def _baselines(self, started: float) -> BaselinesReady | YardstickUnavailable | None:
        if (refused := self._too_large("baselines")) is not None:
            return refused
        if len(self.val_ids) == 0:
            return YardstickUnavailable(
                "baselines", "no validation split to score them on (--val-fraction 0)"
            )
        computed = False

        def compute() -> Baselines | None:
            nonlocal computed
            computed = True
            return compute_baselines(
                self.train_ids,
                self.val_ids,
                len(self.vocab),
                self.options.order,
                should_abort=self._stop.is_set,
            )

        if self.options.cache_dir is None:
            baselines = compute()
        else:
            baselines = load_or_compute_baselines(
                self.options.cache_dir,
                self.corpus_sha256,
                self.val_fraction,
                self.options.order,
                compute,
                val_chars=self.val_chars,
            )
        if baselines is None:  # stopped
            return None
        return BaselinesReady(
            baselines=baselines,
            cached=not computed,
            seconds=time.perf_counter() - started,
            val_chars=len(self.val_ids),
        )

    def _novelty_worker(self) -> None:
        if (refused := self._too_large("novelty")) is not None:
            self._emit(refused)
            return
        try:
            index = NoveltyIndex.build(self.train_ids, should_abort=self._stop.is_set)
        except NoveltyCancelled:
            return
        except (ValueError, MemoryError) as exc:
            self._emit(YardstickUnavailable("novelty", str(exc)))
            return
        while not self._stop.is_set():
            with self._wake:
                while self._pending is None and not self._stop.is_set():
                    self._wake.wait()
                sample, self._pending = self._pending, None
            if sample is None:
                return
            measured = self._measure(index, *sample)
            if measured is not None and not self._stop.is_set():
                self.novelty = measured
                self._emit(measured)
            self._stop.wait(NOVELTY_INTERVAL)

    def _measure(self, index: NoveltyIndex, step: int, text: str) -> NoveltyMeasured | None:
        try:
            ids = self.vocab.encode(text)
        except VocabError:  # a sample is drawn from the vocabulary: this cannot happen
            return None
        return NoveltyMeasured(step=step, text=text, novelty=index.novelty(ids))
