"""Trainer: the one writer of model, optimiser, data cursors and RNGs, with a thread-safe control surface.

`run(publish, should_stop)` trains until told to stop, calling `publish` with a `Snapshot` at most
every `policy.snapshot_interval` seconds and with every discrete event (never dropped). Other
threads steer it with the commands of engine/commands.py (`submit`, or the `pause`, `update`,
`request_sample`, ... shorthands): each is validated in the caller's thread and applied by the
training thread between steps. What is saved and restored lives in engine/persistence.py.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from . import persistence
from .checkpoint import CheckpointError, load_checkpoint, read_meta, save_checkpoint
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
from .config import LIVE_HPARAMS, Config, ConfigError, check
from .control import RunControl
from .events import (
    PROBE_PASSAGE_CHARS,
    PROBE_WARMUP_CHARS,
    CheckpointFailed,
    CheckpointSaved,
    Event,
    HyperparametersChanged,
    RolledBack,
    RunInfo,
    RunState,
    SampleReady,
    Snapshot,
    TrainingFailed,
    WeightsCopied,
    frozen_array,
    frozen_mapping,
)
from .flat import as_flat
from .gradient_health import GradientHealth, GradientProbe
from .metrics import CurveHistory, SmoothedLoss, Throughput, uniform_loss
from .model import CharModel
from .optim import (
    clip_by_global_norm,
    clip_by_value,
    global_norm,
    make_optimizer,
)
from .sampler import check_prime, sample_text
from .schedule import Horizon, HorizonUnit, follows_horizon, rate_at
from .schedule import describe as describe_schedule
from .store import CheckpointStore
from .streams import CharStreams, split_ids, validation_loss
from .vocab import Vocab

RECENT_LOSSES = 240  # raw losses kept for the sparkline
KEPT_SAMPLES = 20  # periodic samples kept (and checkpointed) for the dashboard's history
# a loss per char above this many times ln(V) (knowing nothing) has diverged
DIVERGENCE_FACTOR = 3.0
RUNAWAY_CHARS = 200  # characters the runaway judgement averages over (recent_losses keeps 240)


def corpus_hash(text: str) -> str:
    """The corpus identity stored in checkpoints: sha256 of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunPolicy:
    """How `run` behaves around the training steps: saving, publishing, failing."""

    autosave_seconds: float = 120.0  # 0: save only when asked (and at the end, see save_on_exit)
    snapshot_interval: float = 0.1  # seconds between published snapshots
    on_divergence: Literal["stop", "pause"] = "stop"  # pause: wait for a rollback or a stop
    save_on_exit: bool = (
        False  # write a final checkpoint when run() ends (never after a divergence)
    )


class Trainer(RunControl):
    """Owns model, optimiser, streams and RNGs; `train_step()` trains one window; `run()` loops."""

    def __init__(
        self,
        config: Config,
        text: str,
        *,
        corpus_name: str = "",
        corpus_sha256: str | None = None,
        vocab: Vocab | None = None,
        checkpoint_path: str | Path | None = None,
        keep_checkpoints: int = 3,
    ):
        self.config = config
        self.run_id = uuid.uuid4().hex  # which run a checkpoint belongs to (kept on resume)
        self.fine_tuned_from: str | None = None
        self.corpus_name = corpus_name
        self.corpus_sha256 = corpus_sha256 or corpus_hash(text)
        self.vocab = vocab or Vocab.from_text(text)
        ids = self.vocab.encode(text)
        self.train_ids, self.val_ids = split_ids(ids, config.val_fraction)
        self.streams = CharStreams(self.train_ids, config.batch_size, config.seq_length)
        self.model = CharModel(config, len(self.vocab))
        self.rng = np.random.default_rng(config.seed)  # init, then dropout masks
        self.sample_rng = np.random.default_rng([config.seed, 1])  # periodic samples
        self.params = self.model.init_params(self.rng)
        self._grads = self.model.new_grads()  # reused every step: flat, so clipping is cheap
        self._flat_params = as_flat(self.params.values())
        self._flat_grads = as_flat(self._grads.values())
        self.optimizer = make_optimizer(
            config.optimizer,
            self.params,
            beta1=config.beta1,
            beta2=config.beta2,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.hidden_state = self.model.initial_state(config.batch_size)  # (L, S, B, H)
        self.step_count = 0
        self.elapsed = 0.0
        # what training time is measured with (a test's fake clock, a benchmark's CPU time)
        self.clock: Callable[[], float] = time.perf_counter
        self.horizon = Horizon.open_ended(config)  # the run's budget: set_budget(), checkpointed
        self._last_rate: float | None = None  # the rate of the last update (divergence messages)
        self.smooth = SmoothedLoss(len(self.vocab), config.seq_length)
        self.train_curve = CurveHistory()
        self.val_curve = CurveHistory(persistence.VAL_CURVE_CAPACITY)
        self.recent_losses: deque[float] = deque(maxlen=RECENT_LOSSES)
        self.samples: deque[tuple[int, str]] = deque(maxlen=KEPT_SAMPLES)
        self.hparam_change_steps: list[int] = []
        self.sample_requests = 0  # requested samples served (each seeds its own stream)
        self.val_loss: float | None = None
        self.last_loss = float("nan")
        self.grad_norm = 0.0
        self.clipped_fraction = 0.0
        # gradient health, measured in this thread every PROBE_INTERVAL s (engine/gradient_health.py)
        self.gradient_probe = GradientProbe(self.model, self.params)
        self.gradient_health: GradientHealth | None = None
        self.last_hidden = np.zeros((config.seq_length, config.hidden_size))
        self.val_due = False  # a validation pass was interrupted by a pause: redo it
        self.last_inputs = np.zeros(0, dtype=np.intp)  # stream 0's last window (heatmap labels)
        self.last_target = int(self.train_ids[0])  # the next character stream 0 reads
        self.last_checkpoint: str | None = None
        self.store = (
            CheckpointStore(checkpoint_path, keep_checkpoints, run_id=self.run_id)
            if checkpoint_path
            else None
        )
        self.run_state: RunState = "running"
        self.message = ""  # why the run state is what it is (e.g. the divergence)
        # control surface
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._pause_requested = threading.Event()
        self._stop_requested = threading.Event()
        self._samples_lock = threading.Lock()  # info() copies the history from other threads
        self._throughput = Throughput()
        self._publish: Callable[[Event], None] = lambda event: None

    @property
    def checkpoint_path(self) -> Path | None:
        """Where `request_checkpoint()` and autosave write (latest; older and best beside it)."""
        return self.store.latest if self.store else None

    # -- the training step -------------------------------------------------------------------

    @property
    def chars_per_step(self) -> int:
        """Characters consumed by one step (seq_length x batch_size)."""
        return self.config.seq_length * self.config.batch_size

    @property
    def epochs_trained(self) -> float:
        """Passes over the training text so far: its characters trained on, over its length."""
        return self._epochs_at(self.step_count)

    def _epochs_at(self, steps: int) -> float:
        return steps * self.chars_per_step / len(self.train_ids)

    def _late_dropout_began(self) -> bool:
        """This step is the first with late dropout (the one before it had none)."""
        start = self.config.dropout_from_epoch
        return start > 0 and self._epochs_at(self.step_count - 1) < start <= self.epochs_trained

    @property
    def dropout_active(self) -> bool:
        """Whether the next step drops units: dropout is set and its epoch (if late) is reached."""
        return self.config.drops_units_after(self.epochs_trained)

    @property
    def uniform_loss(self) -> float:
        """ln(V): the loss per character of a model that knows nothing (where training starts)."""
        return uniform_loss(len(self.vocab))

    @property
    def divergence_limit(self) -> float:
        """A loss per character above this has run away (nats)."""
        return DIVERGENCE_FACTOR * self.uniform_loss

    def train_step(self) -> float:
        """Train on the next window; return its loss per character (nats).

        Raises FloatingPointError, leaving every parameter as it was, when the loss or the
        gradient is NaN or infinite, or the loss has run far above where training starts.
        """
        cfg = self.config
        inputs, targets, wrapped = self.streams.next_window()  # (T, B) each
        if wrapped:
            self.hidden_state[...] = 0.0  # a stream that wrapped starts over from a zero state
        dropout_rng = self.rng if self.dropout_active else None
        health = self.gradient_probe if self.gradient_probe.due() else None
        reach = health.begin(cfg.seq_length) if health else None
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # checked below
            result = self.model.loss_and_grads(
                self.params, inputs, targets, self.hidden_state, dropout_rng, self._grads, reach
            )
        loss_per_char = result.loss / cfg.seq_length
        norm = global_norm(self._flat_grads)
        if not (math.isfinite(result.loss) and math.isfinite(norm)):
            raise FloatingPointError(
                f"training diverged: the loss became {result.loss} at step {self.step_count + 1} "
                f"({self._rate_phrase()} is probably too high)"
            )
        if self._running_away(loss_per_char):
            raise FloatingPointError(
                f"training diverged: the loss rose to {loss_per_char:.1f} nats/char at step "
                f"{self.step_count + 1}, far above where it started ({self.uniform_loss:.2f}; "
                f"{self._rate_phrase()} is probably too high)"
            )
        if health:
            health.before_update(self._flat_params, self._flat_grads, cfg.clip, cfg.clip_mode, norm)
        if cfg.clip_mode == "value":
            self.clipped_fraction = clip_by_value(self._flat_grads, cfg.clip)
        else:
            self.clipped_fraction = clip_by_global_norm(self._flat_grads, cfg.clip, norm)
        self._last_rate = self.current_learning_rate()
        self.optimizer.update(self._flat_params, self._flat_grads, self._last_rate)
        self.hidden_state = result.state
        if dropout_rng is not None and self._late_dropout_began():
            self.hparam_change_steps.append(self.step_count)  # mark the chart where it began
        self.step_count += 1
        if health:
            self.gradient_health = health.after_update(
                self.step_count, self._flat_params, cfg.clip, cfg.clip_mode, cfg.optimizer
            )
        self.grad_norm = norm
        self.last_loss = loss_per_char
        self.smooth.update(loss_per_char)
        self.train_curve.append(self.step_count, self.smooth.value)
        self.recent_losses.append(loss_per_char)
        self.last_hidden = result.hidden[:, 0, :]
        self.last_inputs = inputs[:, 0]
        self.last_target = int(targets[-1, 0])  # the next character stream 0 will read
        if cfg.val_every and self.step_count % cfg.val_every == 0 and len(self.val_ids) > 1:
            self.val_due = True
        if self.val_due:
            self.evaluate(interruptible=True)
        return loss_per_char

    def _running_away(self, loss_per_char: float) -> bool:
        """Whether the loss has run far above where training starts, judged over the last
        RUNAWAY_CHARS characters (this window's included) so that one unlucky window cannot
        raise the alarm: with --seq-length 1 a single character's loss can exceed 3 ln V."""
        windows = max(1, math.ceil(RUNAWAY_CHARS / self.chars_per_step))
        if loss_per_char <= self.divergence_limit or len(self.recent_losses) < windows - 1:
            return False
        recent = list(itertools.islice(reversed(self.recent_losses), windows - 1))
        return (sum(recent) + loss_per_char) / windows > self.divergence_limit

    def _rate_phrase(self) -> str:
        """'learning rate 0.1', or under a schedule the rate of the last update (the one that led
        to a divergence) and the base that scales the schedule."""
        cfg = self.config
        if not self.scheduled:
            return f"learning rate {cfg.learning_rate:g}"
        last = self.current_learning_rate() if self._last_rate is None else self._last_rate
        return f"learning rate {last:g} (schedule base {cfg.learning_rate:g})"

    @property
    def scheduled(self) -> bool:
        """Whether the rate in use differs from the base at some step (a schedule or a warm-up)."""
        return self.config.schedule != "constant" or bool(self.config.warmup_steps)

    def current_learning_rate(self) -> float:
        """The rate the next step uses: the live `learning_rate` is the schedule's base."""
        return self.learning_rate_at(self.step_count)

    def learning_rate_at(self, step: int, elapsed: float | None = None) -> float:
        """The scheduled rate of a (0-based) step taken after `elapsed` seconds of training (by
        default the training time so far) under the current settings and horizon."""
        at = self.elapsed if elapsed is None else elapsed
        return rate_at(self.config, self.horizon, step, at)

    def set_budget(self, unit: HorizonUnit | None, length: float = 0.0) -> None:
        """Give this run a budget from where it stands: `length` more steps or seconds of
        training, over which the cosine decays to its floor. None: no budget (open-ended)."""
        if unit is None:
            self.horizon = Horizon.open_ended(self.config, self.elapsed)
        else:
            start = self.step_count if unit == "steps" else self.elapsed
            self.horizon = Horizon(unit, float(start), float(length), budget=True)

    def budget_left(self) -> tuple[HorizonUnit, float] | None:
        """(unit, steps or seconds) of the run's budget still to train, or None without one
        (or once it is spent)."""
        h = self.horizon
        if not h.budget:
            return None
        left = h.start + h.length - (self.step_count if h.unit == "steps" else self.elapsed)
        return (h.unit, left) if left > 0 else None

    def schedule_text(self) -> str:
        """The schedule and where it stands, in a few words ('cosine 2:10/5:00')."""
        return describe_schedule(self.config, self.horizon, self.step_count, self.elapsed)

    def evaluate(self, interruptible: bool = False) -> float | None:
        """Validation loss per character over (the first val_max_chars of) the held-out text.

        When `interruptible`, a pause or stop request abandons the pass (None): it is retried
        after the next step, so pausing never waits for a whole validation pass.
        """
        ids = self.val_ids
        if self.config.val_max_chars:
            ids = ids[: self.config.val_max_chars + 1]
        abort = self._interrupt_requested if interruptible else None
        loss = validation_loss(self.model, self.params, ids, should_abort=abort)
        if loss is None:
            return None
        self.val_loss = loss
        self.val_curve.append(self.step_count, loss)
        self.val_due = False
        return loss

    def _interrupt_requested(self) -> bool:
        return self._pause_requested.is_set() or self._stop_requested.is_set()

    def sample(
        self,
        prime: str | None = None,
        length: int | None = None,
        temperature: float | None = None,
        *,
        greedy: bool = False,
        top_k: int | None = None,
        rng: np.random.Generator | None = None,
        from_training_state: bool = False,
    ) -> str:
        """Prime + generated text. Uses a copy of the state: training is not disturbed."""
        cfg = self.config
        if prime is None:
            prime = self.vocab.chars[int(self.train_ids[0])]
        state = self.hidden_state[:, :, :1] if from_training_state else None
        generated = sample_text(
            self.model,
            self.params,
            self.vocab,
            prime,
            cfg.sample_length if length is None else length,
            rng or self.sample_rng,
            temperature=cfg.temperature if temperature is None else temperature,
            greedy=greedy,
            top_k=cfg.top_k if top_k is None else top_k,
            state=state,
        )
        return prime + generated

    def periodic_sample(self) -> SampleReady:
        """The classic every-N-steps sample: the live state (copied) fed the next character, as the video does."""
        seed = self.vocab.chars[self.last_target]
        text = self.sample(seed, from_training_state=True)[len(seed) :]
        with self._samples_lock:
            self.samples.append((self.step_count, text))
        return SampleReady(text=text, seed=seed, step=self.step_count, requested=False)

    # -- control surface (any thread) ---------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Validate `command` here (ConfigError, CheckpointError or VocabError in the caller's
        thread) and hand it to the training thread, which applies it between steps."""
        match command:
            case Pause():
                self._pause_requested.set()
            case Resume():
                self._pause_requested.clear()
            case Stop():
                self._stop_requested.set()
            case UpdateHparams(changes=changes):
                self.config.replace(**changes)  # the whole config must stay valid
                self._commands.put(command)
            case SaveCheckpoint(path=path):
                if path is None and self.store is None:
                    raise CheckpointError("no checkpoint path set; pass one")
                self._commands.put(command)
            case RequestSample():
                check_prime(command.seed, self.vocab)
                check("sample_length", command.length)
                check("temperature", command.temperature)
                check("top_k", command.top_k)
                self._commands.put(command)
            case RollBack(learning_rate=rate):
                if self.store is None or not self.store.latest.exists():
                    raise CheckpointError(
                        "there is no checkpoint to roll back to; start a new run with a lower "
                        "learning rate"
                    )
                if rate is not None:
                    self.config.replace(learning_rate=rate)
                self._commands.put(command)
            case RequestWeights(train_chars=chars):
                if isinstance(chars, bool) or not isinstance(chars, int) or chars < 0:
                    raise ConfigError(f"train_chars must be a count, 0 or more (got {chars!r})")
                self._commands.put(command)
            case _:
                raise TypeError(f"not a command: {command!r}")
        self._wake.set()

    @property
    def paused(self) -> bool:
        """Whether a pause is requested (the training thread honours it within one step)."""
        return self._pause_requested.is_set()

    def info(self) -> RunInfo:
        """Static facts about the run, with the periodic samples so far (safe from any thread)."""
        cfg = self.config
        with self._samples_lock:
            samples = tuple(self.samples)
        return RunInfo(
            corpus=self.corpus_name,
            train_chars=len(self.train_ids),
            val_chars=len(self.val_ids),
            vocab=self.vocab.chars,
            cell=cfg.cell,
            num_layers=cfg.num_layers,
            hidden_size=cfg.hidden_size,
            batch_size=cfg.batch_size,
            seq_length=cfg.seq_length,
            optimizer=cfg.optimizer,
            dtype=cfg.dtype,
            params=self.model.param_count(),
            checkpoint=None if self.store is None else str(self.store.latest),
            dropout=cfg.dropout,
            dropout_from_epoch=cfg.dropout_from_epoch,
            samples=samples,
        )

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self,
        publish: Callable[[Event], None],
        should_stop: Callable[[], bool] = lambda: False,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        policy: RunPolicy | None = None,
        max_epochs: int | None = None,
    ) -> str:
        """Train until stopped; return why: 'stopped', 'steps', 'time', 'epochs' or 'diverged'.

        On divergence (NaN/inf or runaway loss) a TrainingFailed event is published; under the
        'stop' policy run returns 'diverged', under 'pause' it waits in the diverged state for a
        rollback or a stop.
        """
        policy = policy or RunPolicy()
        self._publish = publish
        last_snapshot = 0.0
        last_autosave = time.monotonic()
        autosaved_step = self.step_count
        run_elapsed0 = self.elapsed
        self.run_state = "paused" if self.paused else "running"
        publish(self.snapshot())
        reason = "stopped"
        while True:
            self._serve_commands()
            if self._stop_requested.is_set() or should_stop():
                break
            if max_steps is not None and self.step_count >= max_steps:
                reason = "steps"
                break
            if max_seconds is not None and self.elapsed - run_elapsed0 >= max_seconds:
                reason = "time"
                break
            if max_epochs is not None and self.streams.completed_epochs >= max_epochs:
                reason = "epochs"  # the streams have read the training text max_epochs times
                break
            if (
                policy.autosave_seconds
                and self.store
                and time.monotonic() - last_autosave >= policy.autosave_seconds
            ):
                last_autosave = time.monotonic()
                if self.step_count != autosaved_step and self.run_state != "diverged":
                    autosaved_step = self.step_count
                    publish(self.try_save())
            if self.run_state == "diverged":
                self._idle()
                continue
            if self._pause_requested.is_set():
                if self.run_state != "paused":
                    self.run_state = "paused"
                    self._throughput.reset()
                    publish(self.snapshot())
                self._idle()
                continue
            if self.run_state != "running":
                self.run_state = "running"
                publish(self.snapshot())
            clock0 = self.clock()
            try:
                self.train_step()
            except FloatingPointError as exc:
                self.run_state, self.message = "diverged", str(exc)
                publish(TrainingFailed(step=self.step_count, reason=str(exc)))
                publish(self.snapshot())
                if policy.on_divergence == "stop":
                    return "diverged"
                continue
            now = time.perf_counter()
            self.elapsed += self.clock() - clock0  # training time: pauses excluded
            self._throughput.add(now, self.step_count * self.chars_per_step)
            every = self.config.sample_every
            if every and self.step_count % every == 0:
                publish(self.periodic_sample())
            if now - last_snapshot >= policy.snapshot_interval:
                last_snapshot = now
                publish(self.snapshot())
        if self.run_state != "diverged":
            self.run_state = "stopped"
        self._serve_commands()
        if policy.save_on_exit and self.run_state != "diverged" and self.store is not None:
            publish(self.try_save())
        publish(self.snapshot())
        if self.run_state == "diverged":
            return "diverged"
        return reason

    def _idle(self) -> None:
        """Wait (paused or diverged) until a command or a short timeout wakes the loop."""
        self._wake.wait(0.05)
        self._wake.clear()

    def _serve_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            match command:
                case UpdateHparams(changes=changes):
                    self.config = self.config.replace(**changes)
                    self.hparam_change_steps.append(self.step_count)
                    self._publish(
                        HyperparametersChanged(
                            step=self.step_count, changes=frozen_mapping(changes)
                        )
                    )
                    self._publish(self.snapshot())
                case SaveCheckpoint(path=path):
                    self._publish(self.try_save(path))
                case RollBack(learning_rate=rate):
                    self._rollback(rate)
                case RequestSample():
                    self._publish(self._requested_sample(command))
                case RequestWeights(tag=tag, train_chars=chars):
                    self._publish(self.weights_copy(tag, chars))

    def weights_copy(self, tag: str = "", train_chars: int = 0) -> WeightsCopied:
        """Read-only copies of the parameters and the text to probe them on (call from the
        training thread, or when not running: the copies are what makes probing race-free).

        The passage is the start of the validation text, warmed on the training text's end; a
        run without validation text gets the end of its training text instead."""
        if len(self.val_ids):  # the validation text follows the training text
            ids, start = self.val_ids[:PROBE_PASSAGE_CHARS], len(self.train_ids)
        else:
            start = max(0, len(self.train_ids) - PROBE_PASSAGE_CHARS)
            ids = self.train_ids[start:]
        warmup = self.train_ids[max(0, start - PROBE_WARMUP_CHARS) : start]
        return WeightsCopied(
            tag=tag,
            step=self.step_count,
            config=frozen_mapping(self.config.to_dict()),
            vocab=self.vocab.chars,
            params=frozen_mapping({name: frozen_array(p) for name, p in self.params.items()}),
            passage=self.vocab.decode(ids[:PROBE_PASSAGE_CHARS]),
            warmup=self.vocab.decode(warmup),
            train_text=self.vocab.decode(self.train_ids[: max(0, train_chars)]),
        )

    def _requested_sample(self, request: RequestSample) -> SampleReady:
        self.sample_requests += 1
        stream = self.sample_requests if request.rng_seed is None else request.rng_seed
        rng = np.random.default_rng([self.config.seed, 2, stream])
        text = self.sample(
            request.seed,
            request.length,
            request.temperature,
            greedy=request.greedy,
            top_k=request.top_k,
            rng=rng,
        )
        return SampleReady(
            text=text, seed=request.seed, step=self.step_count, requested=True, tag=request.tag
        )

    def _rollback(self, learning_rate: float | None) -> None:
        path = self.store.latest if self.store else None
        try:
            meta = read_meta(path)
            if meta.get("corpus_sha256") != self.corpus_sha256:
                raise CheckpointError(
                    f"{path} was trained on another text, so it is not this run's to restore"
                )
            saved_rate = persistence.saved_settings(path, meta)[0].learning_rate
            layout = persistence.checkpoint_layout(self.config, len(self.vocab), meta)
            persistence.restore(self, load_checkpoint(path, layout))
        except (CheckpointError, ValueError) as exc:
            self._publish(TrainingFailed(step=self.step_count, reason=f"rollback failed: {exc}"))
            return
        if learning_rate is not None:
            self.config = self.config.replace(learning_rate=min(learning_rate, saved_rate))
            self.hparam_change_steps.append(self.step_count)
        self.run_state, self.message = "paused", ""
        self._pause_requested.set()
        self._publish(
            RolledBack(
                path=str(path), step=self.step_count, learning_rate=self.config.learning_rate
            )
        )
        self._publish(self.snapshot())

    # -- checkpoints ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the complete training state (call from the training thread, or when not running)."""
        saved = save_checkpoint(path, persistence.checkpoint_data(self))
        self.last_checkpoint = str(saved)
        return saved

    def try_save(self, path: str | Path | None = None) -> CheckpointSaved | CheckpointFailed:
        """Save and report as an event instead of raising (training goes on after a failed write).

        Without `path` the run's store is used (latest, older ones kept, best by validation loss).
        A diverged model is never saved: the last good checkpoint is what a rollback needs.
        """
        target = Path(path) if path else self.checkpoint_path
        if self.run_state == "diverged":
            return CheckpointFailed(
                path=str(target),
                step=self.step_count,
                error="training diverged, so nothing was saved; the last good checkpoint is unchanged",
            )
        notices: tuple[str, ...] = ()
        try:
            if path is None and self.store is not None:
                known = len(self.store.notices)
                saved = self.store.save(persistence.checkpoint_data(self))
                notices = tuple(self.store.notices[known:])
                self.last_checkpoint = str(saved)
            elif target is None:
                raise CheckpointError("no checkpoint path set; pass one")
            else:
                saved = self.save(target)
        except CheckpointError as exc:
            return CheckpointFailed(path=str(target), step=self.step_count, error=str(exc))
        return CheckpointSaved(path=str(saved), step=self.step_count, notices=notices)

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """An immutable copy of what a dashboard shows."""
        cfg = self.config
        chars = self.vocab.decode(self.last_inputs) if self.step_count else ""
        sample_step, sample = self.samples[-1] if self.samples else (-1, "")
        return Snapshot(
            step=self.step_count,
            epoch=self.streams.epoch,
            epoch_progress=self.streams.progress,
            run_state=self.run_state,
            loss=self.last_loss,
            smooth_loss=self.smooth.value,
            classic_smooth_loss=self.smooth.classic,
            val_loss=self.val_loss,
            chars_per_sec=self._throughput.rate(),
            elapsed=self.elapsed,
            grad_norm=self.grad_norm,
            clipped_fraction=self.clipped_fraction,
            gradient_health=self.gradient_health,
            train_curve=frozen_array(self.train_curve.array()),
            val_curve=frozen_array(self.val_curve.array()),
            recent_losses=frozen_array(list(self.recent_losses)),
            hparams=frozen_mapping({k: getattr(cfg, k) for k in LIVE_HPARAMS}),
            hparam_change_steps=tuple(self.hparam_change_steps),
            sample=sample,
            sample_step=sample_step,
            hidden=frozen_array(self.last_hidden),
            hidden_chars=chars,
            last_checkpoint=self.last_checkpoint,
            message=self.message,
            scheduled_learning_rate=self.current_learning_rate() if self.scheduled else None,
            schedule=self.schedule_text(),
            horizon_unit=self.horizon.unit if follows_horizon(cfg) else None,
            horizon_end=self.horizon.end(self.step_count, self.elapsed)
            if follows_horizon(cfg)
            else None,
            dropout_active=self.dropout_active,
        )
