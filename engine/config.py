"""Run configuration: every setting declared once, with its help, range and choices; the presets.

Each field of `Config` carries a `Setting` in its metadata: the help text, a short label, the
allowed range or choices, and whether it may change while training ("live"). Validation, the
command-line options (tui/options.py), the dashboard's hyperparameter inputs and the live set
are all generated from these declarations, so adding a knob is one declaration here. A `Config`
validates itself in `__post_init__`: an invalid one cannot exist.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class Setting:
    """What the user may set a field to, and how to explain it."""

    help: str
    label: str = ""  # short name for a dashboard input ("lr")
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the range excludes `low` itself
    high_open: bool = False
    choices: tuple[str, ...] = ()
    live: bool = False  # may change between steps of a running trainer
    flag: str = ""  # command-line spelling when not --field-name ("--warmup")
    unit: str = ""  # what the number counts ("steps", "chars")

    def describe_range(self) -> str:
        """'one of rnn, lstm, gru', '[1, 8192]', '(0, 100]', or '' when anything goes."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low is None and self.high is None:
            return ""
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"{lo}{_number(self.low)}, {_number(self.high)}{hi}"


def setting(default: Any, help: str, **options: Any) -> Any:
    """A dataclass field declared with its `Setting`."""
    return dataclasses.field(default=default, metadata={"setting": Setting(help, **options)})


CELLS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("adagrad", "adam", "sgd")
CLIP_MODES = ("value", "norm")
DTYPES = ("float64", "float32")
SCHEDULES = ("constant", "step", "cosine")
STEPS = 10**12  # the largest step count any setting refers to


@dataclass(frozen=True)
class Config:
    """Model, optimiser, data and sampling settings. Defaults are the classic min-char-rnn."""

    # the model
    cell: str = setting("rnn", "recurrent cell", choices=CELLS)
    hidden_size: int = setting(100, "hidden units per layer", low=1, high=8192)
    num_layers: int = setting(1, "stacked recurrent layers", low=1, high=16)
    dropout: float = setting(
        0.0,
        "dropout on the connections between layers and into the output head",
        low=0,
        high=1,
        high_open=True,
    )
    dropout_from_epoch: float = setting(
        0.0,
        "epochs (passes over the training text) before dropout starts: late dropout, for "
        "undisturbed early learning and regularisation once the model could overfit the text",
        low=0,
        high=1e6,
    )
    init_scale: float = setting(
        0.01, "weights start as randn * this", low=0, high=10, low_open=True
    )
    dtype: str = setting("float64", "floating-point precision", choices=DTYPES)
    # the data
    seq_length: int = setting(
        25, "characters per window (truncated BPTT length)", low=1, high=10_000
    )
    batch_size: int = setting(1, "windows trained on at once", low=1, high=4096)
    val_fraction: float = setting(0.1, "held-out fraction at the end of the text", low=0, high=0.5)
    val_every: int = setting(
        200, "steps between validation passes (0: never)", low=0, high=STEPS, unit="steps"
    )
    val_max_chars: int = setting(
        20_000,
        "validation characters scored per pass (0: all of them)",
        low=0,
        high=STEPS,
        flag="--val-chars",
        unit="chars",
    )
    seed: int = setting(0, "random seed of the weights, dropout and samples", low=0, high=2**63 - 1)
    # the optimiser
    optimizer: str = setting("adagrad", "optimiser", choices=OPTIMIZERS)
    learning_rate: float = setting(
        0.1,
        "learning rate (under a schedule: its base)",
        label="lr",
        low=0,
        high=100,
        low_open=True,
        live=True,
    )
    momentum: float = setting(0.9, "sgd momentum", low=0, high=1, high_open=True)
    beta1: float = setting(0.9, "adam beta1", low=0, high=1, high_open=True)
    beta2: float = setting(0.999, "adam beta2", low=0, high=1, high_open=True)
    weight_decay: float = setting(0.0, "adam decoupled weight decay on matrices", low=0, high=10)
    # the learning-rate schedule
    schedule: str = setting("constant", "learning-rate schedule", choices=SCHEDULES)
    warmup_steps: int = setting(
        0, "steps of linear warm-up", low=0, high=STEPS, flag="--warmup", unit="steps"
    )
    decay_steps: int = setting(
        1000, "step schedule: steps between decays", low=1, high=STEPS, unit="steps"
    )
    decay_rate: float = setting(
        0.5, "step schedule: factor per decay", low=0, high=1, low_open=True
    )
    total_steps: int = setting(
        0,
        "cosine schedule: a fixed number of steps from the end of warm-up to the floor (0: the "
        "run's budget of minutes or steps; without one, cycles of cycle_minutes)",
        low=0,
        high=STEPS,
        flag="--cosine-steps",
        unit="steps",
    )
    min_lr: float = setting(
        0.0, "cosine schedule: the rate it decays to (at most the base)", low=0, high=100
    )
    cycle_minutes: float = setting(
        5.0,
        "cosine schedule without a budget (or past it): minutes of training in the first cycle "
        "from the base down to min_lr; each later cycle is twice as long",
        low=0,
        high=10**6,
        low_open=True,
        unit="minutes",
    )
    # sampling
    temperature: float = setting(
        1.0,
        "sampling temperature: lower is safer, higher is wilder",
        label="temp",
        low=0,
        high=100,
        low_open=True,
        live=True,
    )
    top_k: int = setting(
        0, "sample only from the k likeliest characters (0: all)", low=0, high=10**6
    )
    sample_length: int = setting(
        200,
        "characters in each periodic sample",
        label="length",
        low=1,
        high=100_000,
        live=True,
        unit="chars",
    )
    sample_every: int = setting(
        100,
        "steps between periodic samples (0: never)",
        label="every",
        low=0,
        high=STEPS,
        live=True,
        unit="steps",
    )

    # gradient clipping
    clip: float = setting(
        5.0,
        "gradient clip: each entry to +-clip, or the global norm with --clip-mode norm",
        label="clip",
        low=0,
        high=1e6,
        low_open=True,
        live=True,
    )
    clip_mode: str = setting("value", "how --clip limits the gradient", choices=CLIP_MODES)

    def __post_init__(self) -> None:
        for name, spec in SETTINGS.items():
            object.__setattr__(self, name, check(name, getattr(self, name), spec))

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated like any Config)."""
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def drops_units_after(self, epochs: float) -> bool:
        """Whether a step taken after `epochs` passes over the text uses dropout (late dropout
        waits for `dropout_from_epoch`); the Trainer and the learning-rate finder both ask."""
        return self.dropout > 0 and epochs >= self.dropout_from_epoch

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
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**values)


def _fields() -> dict[str, Setting]:
    return {f.name: f.metadata["setting"] for f in dataclasses.fields(Config)}


SETTINGS: dict[str, Setting] = _fields()
LIVE_HPARAMS: tuple[str, ...] = tuple(name for name, spec in SETTINGS.items() if spec.live)
TYPES: dict[str, type] = typing.get_type_hints(Config)


def check(name: str, value: Any, spec: Setting | None = None) -> Any:
    """`value` as a valid `name` setting (ints may arrive as whole floats), or ConfigError."""
    spec = spec or SETTINGS[name]
    kind = TYPES[name]
    if kind is str:
        if value not in spec.choices:
            raise ConfigError(f"{name} must be one of {', '.join(spec.choices)} (got {value!r})")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        noun = "a whole number" if kind is int else "a finite number"
        raise ConfigError(f"{name} must be {noun} (got {_shown(value)})")
    if kind is int:
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{name} must be a whole number (got {_shown(value)})")
        value = int(value)
    elif not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number (got {_shown(value)})")
    else:
        value = float(value)
    low, high = spec.low, spec.high
    too_low = low is not None and (value <= low if spec.low_open else value < low)
    too_high = high is not None and (value >= high if spec.high_open else value > high)
    if too_low or too_high:
        if kind is int and not (spec.low_open or spec.high_open):
            raise ConfigError(
                f"{name} must be between {_number(low)} and {_number(high)} (got {value})"
            )
        raise ConfigError(f"{name} must be in {spec.describe_range()} (got {value:g})")
    return value


def parse(name: str, text: str) -> Any:
    """A setting typed by a person (a command-line option, a dashboard input), checked.

    The one parser behind both, so the same text is accepted or refused with the same message.
    """
    kind = TYPES[name]
    if kind is str:
        return check(name, text)
    stripped = text.strip()
    try:
        number = float(stripped)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {noun} (got {_shown(stripped)})") from None
    if kind is int and stripped.lstrip("+-").isdigit():
        return check(name, int(stripped))  # exact: 2**63 - 1 does not survive float()
    return check(name, number)


def _number(value: float | None) -> str:
    if value is None:
        return "any"
    if float(value).is_integer() and abs(value) >= 1e6:
        exponent = math.log10(abs(value))
        return f"10^{exponent:.0f}" if exponent.is_integer() else f"{int(value)}"
    return f"{value:g}"


def _shown(value: Any, limit: int = 40) -> str:
    """A bad value quoted for an error line, cut so a pasted novel cannot flood the screen."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# What the gated presets share: Adam; after 50 steps of warm-up a cosine to 5e-5 over the run's
# budget (--minutes or --steps; without one, cycles of cycle_minutes, each twice as long as the
# last: they beat a constant rate, docs/presets.md); global-norm clipping; float32; late dropout.
GATED = dict(
    optimizer="adam",
    schedule="cosine",
    min_lr=5e-5,
    warmup_steps=50,
    clip_mode="norm",
    clip=5.0,
    init_scale=0.08,
    dtype="float32",
    # late dropout: none for the first four epochs (about five minutes of tinyshakespeare), 0.25
    # from then on, when a model of this size starts to overfit the text (docs/presets.md)
    dropout=0.25,
    dropout_from_epoch=4.0,
)

PRESETS: dict[str, Config] = {
    # The video's model, exactly: vanilla tanh RNN, 100 units, 25 steps, Adagrad 0.1, clip ±5.
    "classic": Config(),
    # Quality in five minutes from one small layer: a GRU of 256 on windows of 64, batches of 32
    # (the tanh RNN of 128 this preset was reached 1.86 nats/char on tinyshakespeare in five
    # minutes, worse than a 4-gram; this 1.52-1.53, under the 5-gram's 1.561: docs/presets.md).
    "small": Config(
        cell="gru", hidden_size=256, batch_size=32, seq_length=64, learning_rate=7e-3, **GATED
    ),
    # The quality preset: two LSTM layers of 256, Adam, global-norm clipping. Small batches of
    # 64-character windows won the 5-minute tinyshakespeare comparison (docs/presets.md): at this
    # budget more updates beat bigger batches.
    "lstm": Config(
        cell="lstm",
        hidden_size=256,
        num_layers=2,
        batch_size=16,
        seq_length=64,
        learning_rate=8e-3,
        # decoupled weight decay (AdamW): 5 minutes of tinyshakespeare scored 1.4634 (median of
        # seeds 0-2) against 1.4771 without; the worst seed 1.4726 against 1.5233 (docs/presets.md)
        weight_decay=0.0125,
        **GATED,
    ),
}
# GRU cells (three gate blocks instead of four: less work per step) take batches of 32 and a
# faster-forgetting second moment better than the LSTM's recipe (docs/presets.md); weight decay
# was measured for the LSTM only.
PRESETS["gru"] = dataclasses.replace(
    PRESETS["lstm"], cell="gru", batch_size=32, beta2=0.99, weight_decay=0.0
)


# A budget of this many minutes or more gives the lstm preset a wider model that drops units from
# the start: by fifteen minutes the 2 x 256 with late dropout learns the text by heart (1.475
# nats/char on tinyshakespeare against 1.458 for this one, docs/presets.md).
LONG_RUN_MINUTES = 15.0
LONG_RUNS: dict[str, dict[str, Any]] = {
    "lstm": dict(hidden_size=384, dropout=0.3, dropout_from_epoch=0.0, weight_decay=0.0),
}


def long_run_changes(name: str, minutes: float | None) -> dict[str, Any]:
    """What a budget of `minutes` changes in the named preset (nothing under LONG_RUN_MINUTES,
    without a budget, or for a preset measured best at one size whatever the budget)."""
    if minutes is None or minutes < LONG_RUN_MINUTES:
        return {}
    return dict(LONG_RUNS.get(name, {}))


def preset(name: str, minutes: float | None = None) -> Config:
    """The named preset (for a run of `minutes`, if it picks its size from the budget), or
    ConfigError listing the names."""
    try:
        config = PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}"
        ) from None
    changes = long_run_changes(name, minutes)
    return config.replace(**changes) if changes else config
