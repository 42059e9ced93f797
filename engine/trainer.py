"""Trainer: the one writer of model, optimiser, data cursors and RNGs, with a thread-safe control surface.

`run(publish, should_stop)` trains until told to stop, calling `publish` with a `Snapshot` at most
every `snapshot_interval` seconds and with every discrete event (never dropped). Other threads
steer it through `pause`, `resume`, `stop`, `update`, `request_checkpoint` and `request_sample`;
those are validated in the caller's thread and applied by the training thread between steps.
"""

from __future__ import annotations

import hashlib
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import (
    CheckpointData,
    CheckpointError,
    check_arrays,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from .config import LIVE_HPARAMS, Config, ConfigError
from .events import (
    CheckpointFailed,
    CheckpointSaved,
    Event,
    HyperparametersChanged,
    RolledBack,
    SampleReady,
    Snapshot,
    TrainingFailed,
    frozen_array,
    frozen_mapping,
)
from .flat import as_flat
from .metrics import CurveHistory, SmoothedLoss, Throughput
from .model import CharModel
from .optim import (
    OPTIMIZER_SLOTS,
    clip_by_global_norm,
    clip_by_value,
    global_norm,
    learning_rate_at,
    make_optimizer,
)
from .sampler import check_prime, sample_text
from .store import CheckpointStore
from .streams import CharStreams, split_ids, validation_loss
from .vocab import Vocab

RECENT_LOSSES = 240  # raw losses kept for the sparkline
KEPT_SAMPLES = 20  # periodic samples kept (and checkpointed) for the dashboard's history
PROBE_CHARS = 200  # characters of the consistency probe stored in checkpoints
VAL_CURVE_CAPACITY = 512
DIVERGENCE_FACTOR = (
    3.0  # a loss per char above this many times ln(V) (knowing nothing) has diverged
)


def corpus_hash(text: str) -> str:
    """The corpus identity stored in checkpoints: sha256 of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Trainer:
    """Owns model, optimiser, streams and RNGs; `step()` trains one window; `run()` loops."""

    snapshot_interval = 0.1
    autosave_seconds = 120.0  # 0 disables; needs a checkpoint path
    keep_checkpoints = 3

    def __init__(
        self,
        config: Config,
        text: str,
        *,
        corpus_name: str = "",
        corpus_sha256: str | None = None,
        vocab: Vocab | None = None,
        checkpoint_path: str | Path | None = None,
    ):
        config.validate()
        self.config = config
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
        self._grads = (
            self.model.new_grads()
        )  # reused every step: flat, so clipping/updates are cheap
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
        self.state = self.model.initial_state(config.batch_size)  # (L, S, B, H)
        self.step_count = 0
        self.elapsed = 0.0
        self.smooth = SmoothedLoss(len(self.vocab), config.seq_length)
        self.train_curve = CurveHistory()
        self.val_curve = CurveHistory(VAL_CURVE_CAPACITY)
        self.recent_losses: deque[float] = deque(maxlen=RECENT_LOSSES)
        self.samples: deque[tuple[int, str]] = deque(maxlen=KEPT_SAMPLES)
        self.hparam_change_steps: list[int] = []
        self.val_loss: float | None = None
        self.last_loss = float("nan")
        self.grad_norm = 0.0
        self.clipped_fraction = 0.0
        self.last_hidden = np.zeros((config.seq_length, config.hidden_size))
        self._val_due = False  # a validation pass was interrupted by a pause: redo it
        self.last_inputs = np.zeros(
            0, dtype=np.intp
        )  # stream 0's last window (for the heatmap labels)
        self.last_target = int(self.train_ids[0])  # the next character stream 0 reads
        self.last_checkpoint: str | None = None
        self.store: CheckpointStore | None = None
        self.checkpoint_path = checkpoint_path
        self.status = "running"
        self.message = ""
        # control surface
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._pause_requested = threading.Event()
        self._stop_requested = threading.Event()
        self._sample_requests = 0
        self._throughput = Throughput()

    @property
    def checkpoint_path(self) -> Path | None:
        """Where `request_checkpoint()` and autosave write (latest; older and best beside it)."""
        return self.store.latest if self.store else None

    @checkpoint_path.setter
    def checkpoint_path(self, path: str | Path | None) -> None:
        self.store = CheckpointStore(path, self.keep_checkpoints) if path else None

    # -- the training step -------------------------------------------------------------------

    @property
    def chars_per_step(self) -> int:
        """Characters consumed by one step (seq_length x batch_size)."""
        return self.config.seq_length * self.config.batch_size

    def step(self) -> float:
        """Train on the next window; return its loss per character (nats). Raises FloatingPointError on NaN/inf."""
        cfg = self.config
        inputs, targets, wrapped = self.streams.next_window()  # (T, B) each
        if wrapped:
            self.state[...] = 0.0  # a stream that wrapped starts over from a zero state
        dropout_rng = self.rng if cfg.dropout > 0 else None
        with np.errstate(
            over="ignore", divide="ignore", invalid="ignore"
        ):  # divergence is checked below
            result = self.model.loss_and_grads(
                self.params, inputs, targets, self.state, dropout_rng, self._grads
            )
        loss_per_char = result.loss / cfg.seq_length
        norm = global_norm(self._flat_grads)
        if not (math.isfinite(result.loss) and math.isfinite(norm)):
            raise FloatingPointError(
                f"training diverged: the loss became {result.loss} at step {self.step_count + 1} "
                f"({self._rate_phrase()} is probably too high)"
            )
        if loss_per_char > DIVERGENCE_FACTOR * self.uniform_loss:
            raise FloatingPointError(
                f"training diverged: the loss rose to {loss_per_char:.1f} nats/char at step {self.step_count + 1}, "
                f"far above where it started ({self.uniform_loss:.2f}; {self._rate_phrase()} is probably "
                "too high)"
            )
        if cfg.clip_mode == "value":
            self.clipped_fraction = clip_by_value(self._flat_grads, cfg.clip)
        else:
            self.clipped_fraction = clip_by_global_norm(self._flat_grads, cfg.clip, norm)
        lr = self.current_learning_rate()
        if self.optimizer._flat_ok():
            self.optimizer.update_flat(self._flat_params, self._flat_grads, lr)
        else:
            self.optimizer.update(self.params, result.grads, lr)
        self.state = result.state
        self.step_count += 1
        self.grad_norm = norm
        self.last_loss = loss_per_char
        self.smooth.update(loss_per_char)
        self.train_curve.append(self.step_count, self.smooth.value)
        self.recent_losses.append(loss_per_char)
        self.last_hidden = result.hidden[:, 0, :]
        self.last_inputs = inputs[:, 0]
        self.last_target = int(targets[-1, 0])  # the next character stream 0 will read
        if cfg.val_every and self.step_count % cfg.val_every == 0 and len(self.val_ids) > 1:
            self._val_due = True
        if self._val_due:
            self.evaluate(interruptible=True)
        return loss_per_char

    def _rate_phrase(self) -> str:
        """'learning rate 0.1', or under a schedule the rate of the last update (the one that led
        to a divergence) and the base that scales the schedule."""
        cfg = self.config
        if cfg.schedule == "constant" and not cfg.warmup_steps:
            return f"learning rate {cfg.learning_rate:g}"
        last = self._rate_at(max(self.step_count - 1, 0))
        return f"learning rate {last:g} (schedule base {cfg.learning_rate:g})"

    def current_learning_rate(self) -> float:
        """The rate the next step uses: the live `learning_rate` is the schedule's base."""
        return self._rate_at(self.step_count)

    def _rate_at(self, step: int) -> float:
        cfg = self.config
        return learning_rate_at(
            step,
            cfg.learning_rate,
            cfg.schedule,
            cfg.warmup_steps,
            cfg.decay_steps,
            cfg.decay_rate,
            cfg.total_steps,
        )

    @property
    def uniform_loss(self) -> float:
        """ln(V): the loss per character of a model that knows nothing (where training starts)."""
        return math.log(len(self.vocab))

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
        self._val_due = False
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
        state = self.state[:, :, :1] if from_training_state else None
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
        self.samples.append((self.step_count, text))
        return SampleReady(text=text, seed=seed, step=self.step_count, requested=False)

    # -- control surface (any thread) ---------------------------------------------------------

    def pause(self) -> None:
        """Stop after the current step and wait (commands are still served while paused)."""
        self._pause_requested.set()
        self._wake.set()

    def resume(self) -> None:
        """Continue training after a pause."""
        self._pause_requested.clear()
        self._wake.set()

    def stop(self) -> None:
        """End `run` after the current step (works while paused)."""
        self._stop_requested.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        """Whether a pause is requested (the training thread honours it within one step)."""
        return self._pause_requested.is_set()

    def update(self, **hparams: Any) -> dict[str, Any]:
        """Queue new live hyperparameters; ConfigError (in the caller's thread) if any is invalid."""
        unknown = sorted(set(hparams) - set(LIVE_HPARAMS))
        if unknown:
            raise ConfigError(
                f"cannot change {', '.join(unknown)} while training; live settings: {', '.join(LIVE_HPARAMS)}"
            )
        changes = {k: _coerce(k, v, getattr(self.config, k)) for k, v in hparams.items()}
        self.config.replace(**changes)  # validate now, so the caller hears about a bad value
        self._commands.put(("update", changes))
        self._wake.set()
        return changes

    def request_checkpoint(self, path: str | Path | None = None) -> None:
        """Save a checkpoint between steps; a CheckpointSaved or CheckpointFailed event follows."""
        if path is None and self.checkpoint_path is None:
            raise CheckpointError("no checkpoint path set; pass one")
        self._commands.put(("checkpoint", path))
        self._wake.set()

    def request_sample(
        self,
        seed: str,
        length: int = 200,
        temperature: float = 1.0,
        *,
        greedy: bool = False,
        top_k: int = 0,
        seed_rng: int | None = None,
    ) -> int:
        """Queue a sample from `seed` (validated here); a SampleReady with the returned id follows."""
        check_prime(seed, self.vocab)
        _coerce("sample_length", length, 1)
        Config(
            sample_length=int(length), temperature=float(temperature), top_k=int(top_k)
        ).validate()
        self._sample_requests += 1
        request_id = self._sample_requests
        self._commands.put(
            (
                "sample",
                (request_id, seed, int(length), float(temperature), greedy, int(top_k), seed_rng),
            )
        )
        self._wake.set()
        return request_id

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self,
        publish: Callable[[Event], None],
        should_stop: Callable[[], bool] = lambda: False,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        on_divergence: str = "stop",
    ) -> str:
        """Train until stopped; return why: 'stopped', 'steps', 'time' or 'diverged'.

        On divergence (NaN/inf or runaway loss) a TrainingFailed event is published; with
        on_divergence='stop' run returns 'diverged', with 'pause' it waits in the diverged state
        for `request_rollback()` or `stop()`.
        """
        self._publish = publish
        last_snapshot = 0.0
        last_autosave = time.monotonic()
        autosaved_step = self.step_count
        run_elapsed0 = self.elapsed
        self.status = "paused" if self.paused else "running"
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
            if (
                self.autosave_seconds
                and self.store
                and time.monotonic() - last_autosave >= self.autosave_seconds
            ):
                last_autosave = time.monotonic()
                if self.step_count != autosaved_step and self.status != "diverged":
                    autosaved_step = self.step_count
                    publish(self.try_save())
            if self.status == "diverged":
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            if self._pause_requested.is_set():
                if self.status != "paused":
                    self.status = "paused"
                    self._throughput.reset()
                    publish(self.snapshot())
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            if self.status != "running":
                self.status = "running"
                publish(self.snapshot())
            t0 = time.perf_counter()
            try:
                self.step()
            except FloatingPointError as exc:
                self.status, self.message = "diverged", str(exc)
                publish(TrainingFailed(step=self.step_count, reason=str(exc)))
                publish(self.snapshot())
                if on_divergence == "stop":
                    return "diverged"
                continue
            now = time.perf_counter()
            self.elapsed += now - t0
            self._throughput.add(now, self.step_count * self.chars_per_step)
            every = self.config.sample_every
            if every and self.step_count % every == 0:
                publish(self.periodic_sample())
            if now - last_snapshot >= self.snapshot_interval:
                last_snapshot = now
                publish(self.snapshot())
        if self.status != "diverged":
            self.status = "stopped"
        self._serve_commands()
        publish(self.snapshot())
        return reason

    def _serve_commands(self) -> None:
        while True:
            try:
                kind, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            if kind == "update":
                self.config = self.config.replace(**arg)
                self.hparam_change_steps.append(self.step_count)
                self._publish(
                    HyperparametersChanged(step=self.step_count, changes=frozen_mapping(arg))
                )
                self._publish(self.snapshot())
            elif kind == "checkpoint":
                self._publish(self.try_save(arg))
            elif kind == "rollback":
                self._rollback(arg)
            elif kind == "sample":
                request_id, seed, length, temperature, greedy, top_k, seed_rng = arg
                rng = np.random.default_rng(
                    [self.config.seed, 2, request_id if seed_rng is None else seed_rng]
                )
                text = self.sample(seed, length, temperature, greedy=greedy, top_k=top_k, rng=rng)
                self._publish(
                    SampleReady(
                        text=text,
                        seed=seed,
                        step=self.step_count,
                        requested=True,
                        request_id=request_id,
                    )
                )

    def request_rollback(self, learning_rate: float | None = None) -> None:
        """After a divergence: restore the last good checkpoint, optionally with a new learning rate."""
        if self.store is None or not self.store.latest.exists():
            raise CheckpointError(
                "there is no checkpoint to roll back to; start a new run with a lower learning rate"
            )
        if learning_rate is not None:
            self.config.replace(learning_rate=_coerce("learning_rate", learning_rate, 0.1))
        self._commands.put(("rollback", learning_rate))
        self._wake.set()

    def _rollback(self, learning_rate: float | None) -> None:
        path = self.store.latest if self.store else None
        try:
            data = load_checkpoint(path, self.expected_arrays(read_meta(path)))
            self.restore(data)
        except (CheckpointError, ValueError) as exc:
            self._publish(TrainingFailed(step=self.step_count, reason=f"rollback failed: {exc}"))
            return
        if learning_rate is not None:
            self.config = self.config.replace(learning_rate=float(learning_rate))
            self.hparam_change_steps.append(self.step_count)
        self.status, self.message = "paused", ""
        self._pause_requested.set()
        self._publish(
            RolledBack(
                path=str(path), step=self.step_count, learning_rate=self.config.learning_rate
            )
        )
        self._publish(self.snapshot())

    def try_save(self, path: str | Path | None = None) -> CheckpointSaved | CheckpointFailed:
        """Save and report as an event instead of raising (training goes on after a failed write).

        Without `path` the run's store is used (latest, older ones kept, best by validation loss).
        A diverged model is never saved: the last good checkpoint is what a rollback needs.
        """
        target = Path(path) if path else self.checkpoint_path
        if self.status == "diverged":
            return CheckpointFailed(
                path=str(target),
                step=self.step_count,
                error="training diverged, so nothing was saved; the last good checkpoint is unchanged",
            )
        try:
            if path is None and self.store is not None:
                saved = self.store.save(self.checkpoint_data())
                self.last_checkpoint = str(saved)
            elif target is None:
                raise CheckpointError("no checkpoint path set; pass one")
            else:
                saved = self.save(target)
        except CheckpointError as exc:
            return CheckpointFailed(path=str(target), step=self.step_count, error=str(exc))
        return CheckpointSaved(path=str(saved), step=self.step_count)

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
            state=self.status,
            loss=self.last_loss,
            smooth_loss=self.smooth.value,
            classic_smooth_loss=self.smooth.classic,
            val_loss=self.val_loss,
            chars_per_sec=self._throughput.rate(),
            elapsed=self.elapsed,
            grad_norm=self.grad_norm,
            clipped_fraction=self.clipped_fraction,
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
            scheduled_learning_rate=(
                None
                if cfg.schedule == "constant" and not cfg.warmup_steps
                else self.current_learning_rate()
            ),
        )

    def describe(self) -> dict[str, Any]:
        """Static facts about the run: corpus, vocabulary and model summary."""
        cfg = self.config
        return {
            "corpus": self.corpus_name,
            "train_chars": len(self.train_ids),
            "val_chars": len(self.val_ids),
            "vocab_size": len(self.vocab),
            "cell": cfg.cell,
            "num_layers": cfg.num_layers,
            "hidden_size": cfg.hidden_size,
            "batch_size": cfg.batch_size,
            "seq_length": cfg.seq_length,
            "optimizer": cfg.optimizer,
            "dtype": cfg.dtype,
            "params": self.model.param_count(),
        }

    # -- checkpoints ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the complete training state (call from the training thread, or when not running)."""
        saved = save_checkpoint(path, self.checkpoint_data())
        self.last_checkpoint = str(saved)
        return saved

    def checkpoint_data(self) -> CheckpointData:
        """Everything needed to continue bit-exactly."""
        train_points, train_acc = self.train_curve.state_dict()
        val_points, val_acc = self.val_curve.state_dict()
        meta = {
            "config": self.config.to_dict(),
            "vocab": list(self.vocab.chars),
            "corpus_sha256": self.corpus_sha256,
            "corpus_name": self.corpus_name,
            "step": self.step_count,
            "elapsed": self.elapsed,
            "streams": self.streams.state_dict(),
            "smooth_loss": self.smooth.value,
            "last_loss": self.last_loss,
            "val_loss": self.val_loss,
            "grad_norm": self.grad_norm,
            "clipped_fraction": self.clipped_fraction,
            "rng": self.rng.bit_generator.state,
            "sample_rng": self.sample_rng.bit_generator.state,
            "train_curve": dict(train_acc, size=len(train_points)),
            "val_curve": dict(val_acc, size=len(val_points)),
            "recent_losses": list(self.recent_losses),
            "samples": [list(s) for s in self.samples],
            "hparam_change_steps": self.hparam_change_steps,
            "sample_requests": self._sample_requests,
            "last_inputs": [int(i) for i in self.last_inputs],
            "last_target": self.last_target,
            "val_due": self._val_due,
            "probe_loss": self._sane_probe_loss(),
        }
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        arrays.update({f"opt/{k}": v for k, v in self.optimizer.state_dict().items()})
        arrays["state"] = self.state
        arrays["hist/train"] = train_points
        arrays["hist/val"] = val_points
        arrays["hist/hidden"] = np.asarray(self.last_hidden, dtype=np.float64)
        return CheckpointData(meta=meta, arrays=arrays)

    def _probe_loss(self) -> float:
        """Loss on the first characters of the training text from a zero state: a fingerprint of the weights."""
        ids = self.train_ids[: PROBE_CHARS + 1].astype(np.intp)
        loss, _ = self.model.loss(
            self.params, ids[:-1, None], ids[1:, None], self.model.initial_state(1)
        )
        return loss

    def _sane_probe_loss(self) -> float:
        """The probe loss, or CheckpointError if it shows the weights have diverged: never save garbage.

        A step can leave wrecked weights that only the next step's loss would reveal; an autosave
        in between would otherwise become the "last good checkpoint" a rollback restores.
        """
        loss = self._probe_loss()
        per_char = loss / max(1, min(PROBE_CHARS, len(self.train_ids) - 1))
        if not per_char <= DIVERGENCE_FACTOR * self.uniform_loss:  # NaN fails this too
            raise CheckpointError(
                f"the weights have diverged (loss {per_char:.3g} nats/char on the start of the text), "
                "so nothing was saved; the last good checkpoint is unchanged"
            )
        return loss

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        text: str,
        *,
        corpus_name: str = "",
        corpus_sha256: str | None = None,
        checkpoint_path: str | Path | None = None,
        allow_other_corpus: bool = False,
    ) -> Trainer:
        """A trainer that continues exactly where the checkpoint left off (CheckpointError if it cannot)."""
        path = Path(path)
        meta = read_meta(path)
        try:
            config = Config.from_dict(meta["config"])
            vocab = Vocab(meta["vocab"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {path} is unusable: its settings are invalid ({exc}); start a new run"
            ) from None
        sha = corpus_sha256 or corpus_hash(text)
        if sha != meta.get("corpus_sha256") and not allow_other_corpus:
            raise CheckpointError(
                f"checkpoint {path} was trained on a different text ({meta.get('corpus_name') or 'unknown'}); "
                "pass the same corpus to resume, or start a new run"
            )
        missing = sorted(set(text) - set(vocab.chars))
        if missing:
            raise CheckpointError(
                f"this text has characters the checkpoint's model never saw "
                f"({', '.join(map(repr, missing[:5]))}); resume on the original corpus"
            )
        try:
            # names, shapes and sizes first: absurd settings must fail before the trainer allocates
            check_arrays(path, checkpoint_layout(config, len(vocab), meta))
            trainer = cls(
                config,
                text,
                corpus_name=corpus_name or meta.get("corpus_name", ""),
                corpus_sha256=sha,
                vocab=vocab,
                checkpoint_path=checkpoint_path,
            )
        except ValueError as exc:  # a bad curve size, or a text too short for the saved batch
            raise CheckpointError(
                f"checkpoint {path} is unusable: {exc}; use another checkpoint"
            ) from None
        try:
            expected = trainer.expected_arrays(meta)
        except ValueError as exc:
            raise CheckpointError(
                f"checkpoint {path} is unusable: {exc}; use another checkpoint"
            ) from None
        data = load_checkpoint(path, expected)
        trainer.restore(data)
        probe = meta.get("probe_loss")
        # a missing stored loss fails the check too: every checkpoint carries one
        reproduced = isinstance(probe, (int, float)) and math.isclose(
            trainer._probe_loss(), probe, rel_tol=1e-9, abs_tol=1e-12
        )
        if sha == meta.get("corpus_sha256") and not reproduced:
            raise CheckpointError(
                f"checkpoint {path} failed its consistency check (the weights do not reproduce their "
                "stored loss); use an earlier checkpoint"
            )
        return trainer

    def expected_arrays(self, meta: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
        """Member name -> (shape, dtype) that a checkpoint of this run must have."""
        return checkpoint_layout(self.config, len(self.vocab), meta)

    def restore(self, data: CheckpointData) -> None:
        """Load state saved by checkpoint_data into this (freshly built) trainer."""
        meta, arrays = data.meta, data.arrays
        try:
            for k in self.params:
                self.params[k][...] = arrays[f"param/{k}"]
            self.optimizer.load_state_dict(
                {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}
            )
            self.state = arrays["state"].copy()
            self.step_count = int(meta["step"])
            self.elapsed = float(meta["elapsed"])
            self.streams.load_state_dict(meta["streams"])
            self.smooth.value = float(meta["smooth_loss"])
            self.last_loss = float(meta["last_loss"])
            self.val_loss = None if meta["val_loss"] is None else float(meta["val_loss"])
            self.grad_norm = float(meta["grad_norm"])
            self.clipped_fraction = float(meta["clipped_fraction"])
            self.rng.bit_generator.state = meta["rng"]
            self.sample_rng.bit_generator.state = meta["sample_rng"]
            self.train_curve.load_state_dict(arrays["hist/train"], meta["train_curve"])
            self.val_curve.load_state_dict(arrays["hist/val"], meta["val_curve"])
            self.recent_losses.clear()
            self.recent_losses.extend(float(x) for x in meta["recent_losses"])
            self.samples.clear()
            self.samples.extend((int(s), str(t)) for s, t in meta["samples"])
            self.hparam_change_steps = [int(s) for s in meta["hparam_change_steps"]]
            self._sample_requests = int(meta["sample_requests"])
            self.last_inputs = np.array(meta["last_inputs"], dtype=np.intp)
            self.last_target = int(meta["last_target"])
            self._val_due = bool(meta.get("val_due", False))
            if not 0 <= self.last_target < len(self.vocab):
                raise ValueError("last_target out of range")
            if self.last_inputs.size and (
                self.last_inputs.max() >= len(self.vocab) or self.last_inputs.min() < 0
            ):
                raise ValueError("last_inputs out of range")
            self.last_hidden = arrays["hist/hidden"]
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # int(inf), huge RNG ints
            raise CheckpointError(
                f"checkpoint is unusable: its metadata is incomplete ({exc}); use another checkpoint"
            ) from None


def checkpoint_layout(
    config: Config, vocab_size: int, meta: dict[str, Any]
) -> dict[str, tuple[tuple[int, ...], str]]:
    """Member name -> (shape, dtype) that a checkpoint of this configuration must have."""
    model = CharModel(config, vocab_size)
    dt = model.dtype.name
    shapes = model.param_shapes()
    exp: dict[str, tuple[tuple[int, ...], str]] = {f"param/{k}": (v, dt) for k, v in shapes.items()}
    for slot in OPTIMIZER_SLOTS[config.optimizer]:
        exp.update({f"opt/{slot}/{k}": (v, dt) for k, v in shapes.items()})
    exp["opt/t"] = ((), "int64")
    exp["state"] = (
        (config.num_layers, model.state_slots, config.batch_size, config.hidden_size),
        dt,
    )
    exp["hist/train"] = ((_curve_size(meta, "train_curve", CurveHistory().capacity), 2), "float64")
    exp["hist/val"] = ((_curve_size(meta, "val_curve", VAL_CURVE_CAPACITY), 2), "float64")
    exp["hist/hidden"] = ((config.seq_length, config.hidden_size), "float64")
    return exp


def load_for_sampling(
    path: str | Path,
) -> tuple[CharModel, dict[str, np.ndarray], Vocab, Config, dict[str, Any]]:
    """Model, parameters, vocabulary, config and metadata of a checkpoint (no corpus needed)."""
    path = Path(path)
    meta = read_meta(path)
    try:
        config = Config.from_dict(meta["config"])
        vocab = Vocab(meta["vocab"])
        layout = checkpoint_layout(config, len(vocab), meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is unusable: its settings are invalid ({exc}); use another checkpoint"
        ) from None
    data = load_checkpoint(path, layout)
    model = CharModel(config, len(vocab))
    params = {k[len("param/") :]: v for k, v in data.arrays.items() if k.startswith("param/")}
    return model, params, vocab, config, meta


def _curve_size(meta: dict, key: str, capacity: int) -> int:
    """Stored point count of a curve history, checked against its capacity."""
    size = meta.get(key, {}).get("size") if isinstance(meta.get(key), dict) else None
    if not isinstance(size, int) or not 0 <= size <= capacity:
        raise ValueError(f"{key} size {size!r} is invalid")
    return size


def _coerce(name: str, value: Any, like: Any) -> Any:
    """Turn a (possibly string) value into the type of the current setting, or ConfigError."""
    try:
        if isinstance(like, bool):
            raise ConfigError(f"{name} cannot be changed")
        if isinstance(like, int):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number (got {value!r})") from None
