"""A Trainer's state as a checkpoint and back: what is saved, the layout it implies, restoring.

engine/checkpoint.py reads and writes the file format; this module knows what a run consists of
(parameters, optimiser memory, hidden state, data cursors, RNG states, curves, samples) so that
resuming continues bit-exactly, and which arrays a checkpoint of a configuration must hold so a
damaged or hostile file is refused before anything is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .checkpoint import CheckpointData, CheckpointError, load_checkpoint, read_meta
from .config import Config
from .metrics import CurveHistory
from .model import CharModel
from .optim import OPTIMIZER_SLOTS
from .schedule import Horizon
from .vocab import Vocab

if TYPE_CHECKING:
    from .trainer import Trainer

PROBE_CHARS = 200  # characters of the consistency probe stored in checkpoints
VAL_CURVE_CAPACITY = 512
Layout = dict[str, tuple[tuple[int, ...], str]]  # member name -> (shape, dtype name)


def checkpoint_data(trainer: Trainer) -> CheckpointData:
    """Everything needed to continue bit-exactly (call from the training thread, or when idle)."""
    train_points, train_acc = trainer.train_curve.state_dict()
    val_points, val_acc = trainer.val_curve.state_dict()
    meta = {
        "config": trainer.config.to_dict(),
        "run_id": trainer.run_id,
        "fine_tuned_from": trainer.fine_tuned_from,
        "vocab": list(trainer.vocab.chars),
        "corpus_sha256": trainer.corpus_sha256,
        "corpus_name": trainer.corpus_name,
        "step": trainer.step_count,
        "elapsed": trainer.elapsed,
        "schedule_horizon": trainer.horizon.to_dict(),
        "streams": trainer.streams.state_dict(),
        "smooth_loss": trainer.smooth.value,
        "last_loss": trainer.last_loss,
        "val_loss": trainer.val_loss,
        "grad_norm": trainer.grad_norm,
        "clipped_fraction": trainer.clipped_fraction,
        "rng": trainer.rng.bit_generator.state,
        "sample_rng": trainer.sample_rng.bit_generator.state,
        "train_curve": dict(train_acc, size=len(train_points)),
        "val_curve": dict(val_acc, size=len(val_points)),
        "recent_losses": list(trainer.recent_losses),
        "samples": [list(s) for s in trainer.samples],
        "hparam_change_steps": trainer.hparam_change_steps,
        "sample_requests": trainer.sample_requests,
        "last_inputs": [int(i) for i in trainer.last_inputs],
        "last_target": trainer.last_target,
        "val_due": trainer.val_due,
        "probe_loss": sane_probe_loss(trainer),
    }
    arrays = {f"param/{k}": v for k, v in trainer.params.items()}
    arrays.update({f"opt/{k}": v for k, v in trainer.optimizer.state_dict().items()})
    arrays["state"] = trainer.hidden_state
    arrays["hist/train"] = train_points
    arrays["hist/val"] = val_points
    arrays["hist/hidden"] = np.asarray(trainer.last_hidden, dtype=np.float64)
    return CheckpointData(meta=meta, arrays=arrays)


def restore(trainer: Trainer, data: CheckpointData) -> None:
    """Load state saved by checkpoint_data into a freshly built trainer of the same layout."""
    meta, arrays = data.meta, data.arrays
    try:
        for k in trainer.params:
            trainer.params[k][...] = arrays[f"param/{k}"]
        trainer.optimizer.load_state_dict(
            {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}
        )
        trainer.hidden_state = arrays["state"].copy()
        trainer.run_id = str(meta.get("run_id") or trainer.run_id)
        if trainer.store is not None:
            # a checkpoint from before run identities: this session cannot tell its files from
            # another run's, so it treats them as its own, as rnn-tui always did
            trainer.store.run_id = trainer.run_id if meta.get("run_id") else None
        trainer.fine_tuned_from = meta.get("fine_tuned_from")
        trainer.step_count = int(meta["step"])
        trainer.elapsed = float(meta["elapsed"])
        # before horizons were saved, a run had no budget: open-ended from the start
        saved_horizon = meta.get("schedule_horizon")
        trainer.horizon = (
            Horizon.open_ended(trainer.config)
            if saved_horizon is None
            else Horizon.from_dict(saved_horizon)
        )
        trainer.streams.load_state_dict(meta["streams"])
        trainer.smooth.value = float(meta["smooth_loss"])
        trainer.last_loss = float(meta["last_loss"])
        trainer.val_loss = None if meta["val_loss"] is None else float(meta["val_loss"])
        trainer.grad_norm = float(meta["grad_norm"])
        trainer.clipped_fraction = float(meta["clipped_fraction"])
        trainer.rng.bit_generator.state = meta["rng"]
        trainer.sample_rng.bit_generator.state = meta["sample_rng"]
        trainer.train_curve.load_state_dict(arrays["hist/train"], meta["train_curve"])
        trainer.val_curve.load_state_dict(arrays["hist/val"], meta["val_curve"])
        trainer.recent_losses.clear()
        trainer.recent_losses.extend(float(x) for x in meta["recent_losses"])
        trainer.samples.clear()
        trainer.samples.extend((int(s), str(t)) for s, t in meta["samples"])
        trainer.hparam_change_steps = [int(s) for s in meta["hparam_change_steps"]]
        trainer.sample_requests = int(meta["sample_requests"])
        trainer.last_inputs = np.array(meta["last_inputs"], dtype=np.intp)
        trainer.last_target = int(meta["last_target"])
        trainer.val_due = bool(meta.get("val_due", False))
        if not 0 <= trainer.last_target < len(trainer.vocab):
            raise ValueError("last_target out of range")
        if trainer.last_inputs.size and (
            trainer.last_inputs.max() >= len(trainer.vocab) or trainer.last_inputs.min() < 0
        ):
            raise ValueError("last_inputs out of range")
        trainer.last_hidden = arrays["hist/hidden"]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # int(inf), huge RNG ints
        raise CheckpointError(
            f"checkpoint is unusable: its metadata is incomplete ({exc}); use another checkpoint"
        ) from None


def probe_loss(trainer: Trainer) -> float:
    """Loss on the first characters of the training text from a zero state: a fingerprint of
    the weights, stored in every checkpoint and reproduced on load."""
    ids = trainer.train_ids[: PROBE_CHARS + 1].astype(np.intp)
    loss, _ = trainer.model.loss(
        trainer.params, ids[:-1, None], ids[1:, None], trainer.model.initial_state(1)
    )
    return loss


def sane_probe_loss(trainer: Trainer) -> float:
    """The probe loss, or CheckpointError if it shows the weights have diverged: never save garbage.

    A step can leave wrecked weights that only the next step's loss would reveal; an autosave
    in between would otherwise become the "last good checkpoint" a rollback restores.
    """
    loss = probe_loss(trainer)
    per_char = loss / max(1, min(PROBE_CHARS, len(trainer.train_ids) - 1))
    if not per_char <= trainer.divergence_limit:  # NaN fails this too
        raise CheckpointError(
            f"the weights have diverged (loss {per_char:.3g} nats/char on the start of the text), "
            "so nothing was saved; the last good checkpoint is unchanged"
        )
    return loss


def reproduces_probe(trainer: Trainer, meta: dict[str, Any]) -> bool:
    """Whether the restored weights give the loss the checkpoint stored (a missing one fails)."""
    stored = meta.get("probe_loss")
    return isinstance(stored, (int, float)) and math.isclose(
        probe_loss(trainer), stored, rel_tol=1e-9, abs_tol=1e-12
    )


def checkpoint_layout(config: Config, vocab_size: int, meta: dict[str, Any]) -> Layout:
    """Member name -> (shape, dtype) that a checkpoint of this configuration must have."""
    model = CharModel(config, vocab_size)
    dt = model.dtype.name
    shapes = model.param_shapes()
    exp: Layout = {f"param/{k}": (v, dt) for k, v in shapes.items()}
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


def saved_settings(path: str | Path, meta: dict[str, Any]) -> tuple[Config, Vocab]:
    """The configuration and vocabulary a checkpoint was written with (CheckpointError if bad)."""
    try:
        return Config.from_dict(upgraded_config(meta["config"])), Vocab(meta["vocab"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is unusable: its settings are invalid ({exc}); start a new run"
        ) from None


def upgraded_config(values: Any) -> Any:
    """A config saved by an earlier rnn-tui, in today's terms.

    Before `min_lr` existed the cosine schedule decayed to a tenth of its base rate. Before
    `cycle_minutes` existed a cosine without `total_steps` did not decay at all (it now follows
    the run's budget): such a run stays constant after its warm-up.
    """
    if not isinstance(values, dict) or values.get("schedule") != "cosine":
        return values
    if "min_lr" not in values:
        rate = values.get("learning_rate")
        if isinstance(rate, (int, float)) and not isinstance(rate, bool):
            values = dict(values, min_lr=0.1 * rate)
    if "cycle_minutes" not in values and values.get("total_steps") == 0:
        values = dict(values, schedule="constant")
    return values


@dataclass(frozen=True)
class SavedModel:
    """What sampling and probing need from a checkpoint: no corpus, no optimiser."""

    model: CharModel
    params: dict[str, np.ndarray]
    vocab: Vocab
    config: Config
    meta: dict[str, Any]


def load_model(path: str | Path) -> SavedModel:
    """Model, parameters, vocabulary, config and metadata of a checkpoint."""
    path = Path(path)
    meta = read_meta(path)
    config, vocab = saved_settings(path, meta)
    try:
        layout = checkpoint_layout(config, len(vocab), meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is unusable: its settings are invalid ({exc}); use another checkpoint"
        ) from None
    data = load_checkpoint(path, layout)
    params = {k[len("param/") :]: v for k, v in data.arrays.items() if k.startswith("param/")}
    return SavedModel(CharModel(config, len(vocab)), params, vocab, config, meta)


def _curve_size(meta: dict, key: str, capacity: int) -> int:
    """Stored point count of a curve history, checked against its capacity."""
    size = meta.get(key, {}).get("size") if isinstance(meta.get(key), dict) else None
    if not isinstance(size, int) or not 0 <= size <= capacity:
        raise ValueError(f"{key} size {size!r} is invalid")
    return size
