"""Run configuration: a frozen dataclass with validation, and the named presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

CELLS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("adagrad", "adam", "sgd")
CLIP_MODES = ("value", "norm")
DTYPES = ("float64", "float32")
SCHEDULES = ("constant", "step", "cosine")

# Hyperparameters the Trainer accepts while running (applied between steps).
LIVE_HPARAMS = ("learning_rate", "temperature", "sample_length", "sample_every", "clip")


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Config:
    """Model, optimiser, data and sampling settings. Defaults are the classic min-char-rnn."""

    cell: str = "rnn"
    hidden_size: int = 100
    num_layers: int = 1
    dropout: float = 0.0
    seq_length: int = 25
    batch_size: int = 1
    learning_rate: float = 0.1
    optimizer: str = "adagrad"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_steps: int = 1000
    decay_rate: float = 0.5
    total_steps: int = 0  # horizon of the cosine schedule (0: none)
    clip: float = 5.0
    clip_mode: str = "value"
    init_scale: float = 0.01
    dtype: str = "float64"
    val_fraction: float = 0.1
    val_every: int = 200  # steps between validation passes (0: never)
    val_max_chars: int = 20_000  # validation text evaluated per pass (0: all of it)
    seed: int = 0
    temperature: float = 1.0
    top_k: int = 0
    sample_length: int = 200
    sample_every: int = 100  # steps between periodic samples (0: never)

    def replace(self, **changes: Any) -> Config:
        """A validated copy with some fields changed."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """Inverse of to_dict; unknown keys are an error so stale files are noticed."""
        if not isinstance(values, dict):
            raise ConfigError(
                f"a config must be a mapping of settings (got {type(values).__name__})"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        _choice("cell", self.cell, CELLS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("clip_mode", self.clip_mode, CLIP_MODES)
        _choice("dtype", self.dtype, DTYPES)
        _choice("schedule", self.schedule, SCHEDULES)
        _int_range("hidden_size", self.hidden_size, 1, 8192)
        _int_range("num_layers", self.num_layers, 1, 16)
        _int_range("seq_length", self.seq_length, 1, 10_000)
        _int_range("batch_size", self.batch_size, 1, 4096)
        _int_range("warmup_steps", self.warmup_steps, 0, 10**9)
        _int_range("decay_steps", self.decay_steps, 1, 10**9)
        _int_range("total_steps", self.total_steps, 0, 10**12)
        _int_range("val_every", self.val_every, 0, 10**9)
        _int_range("val_max_chars", self.val_max_chars, 0, 10**12)
        _int_range("top_k", self.top_k, 0, 10**6)
        _int_range("sample_length", self.sample_length, 1, 100_000)
        _int_range("sample_every", self.sample_every, 0, 10**9)
        _int_range("seed", self.seed, 0, 2**63 - 1)
        _float_range("learning_rate", self.learning_rate, 0.0, 100.0, low_open=True)
        _float_range("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _float_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _float_range("beta1", self.beta1, 0.0, 1.0, high_open=True)
        _float_range("beta2", self.beta2, 0.0, 1.0, high_open=True)
        _float_range("weight_decay", self.weight_decay, 0.0, 10.0)
        _float_range("decay_rate", self.decay_rate, 0.0, 1.0, low_open=True)
        _float_range("clip", self.clip, 0.0, 1e6, low_open=True)
        _float_range("init_scale", self.init_scale, 0.0, 10.0, low_open=True)
        _float_range("val_fraction", self.val_fraction, 0.0, 0.5)
        _float_range("temperature", self.temperature, 0.0, 100.0, low_open=True)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high} (got {value})")


def _float_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number (got {value!r})")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ConfigError(f"{name} must be in {lo}{low:g}, {high:g}{hi} (got {value:g})")


PRESETS: dict[str, Config] = {
    # The video's model, exactly: vanilla tanh RNN, 100 units, 25 steps, Adagrad 0.1, clip ±5.
    "classic": Config(),
    # Same cell, batched and in float32: fast on a laptop.
    "small": Config(
        hidden_size=128, batch_size=32, seq_length=50, learning_rate=0.05, dtype="float32"
    ),
    # The quality preset: two LSTM layers of 256, Adam, global-norm clipping. Small batches of
    # 64-character windows won the 5-minute tinyshakespeare comparison (docs/presets.md): at this
    # budget more updates beat bigger batches. The learning rate follows a cosine from 5e-3 down
    # to a tenth over 4,300 steps (about 5 minutes on 2 cores) and stays there: the decay gained
    # ~0.05 nats/char over a constant rate in the same time.
    "lstm": Config(
        cell="lstm",
        hidden_size=256,
        num_layers=2,
        batch_size=16,
        seq_length=64,
        optimizer="adam",
        learning_rate=5e-3,
        schedule="cosine",
        total_steps=4300,
        clip_mode="norm",
        clip=5.0,
        init_scale=0.08,
        dtype="float32",
    ),
}
# The same recipe with GRU cells (three gate blocks instead of four: less work per step).
PRESETS["gru"] = dataclasses.replace(PRESETS["lstm"], cell="gru")


def preset(name: str) -> Config:
    """The named preset, or ConfigError listing the names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}"
        ) from None
