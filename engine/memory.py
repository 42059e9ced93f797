"""Memory: what training a configuration needs, what the machine can give, and a check in between.

Settings inside the allowed ranges can still ask for more memory than there is
(`--cell lstm --hidden-size 8192 --num-layers 16` wants some 200 GiB), and NumPy then fails
deep inside an allocation, or the kernel's OOM killer ends the process. `check_memory` refuses
such a configuration up front with one line naming both numbers, without allocating anything:
the estimate is arithmetic on the shapes the model and optimiser would create.

The estimate follows the engine's arrays (see model.py, cells.py, lstm.py, gru.py, optim.py):
parameters, gradients, optimiser slots and the update's scratch buffers; one window's forward
caches of every layer plus the softmax logits and the largest backward temporaries; the copies a
checkpoint save or restore makes; the text and its encoded ids; and the interpreter itself.
tests/test_engine_memory.py holds it against the measured peak RSS of real training runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError
from .model import CharModel
from .optim import OPTIMIZER_SLOTS

# Resident memory of Python with NumPy and the engine imported, before any array (33 MB
# measured with Python 3.11 / NumPy on Linux); the BLAS threads' buffers come on top.
BASELINE_BYTES = 48 * 2**20
# Persistent scratch buffers the optimiser's update keeps, in units of the parameter count
# (Adagrad: g*g and the step; Adam: one; SGD: the `lr * g` temporary of each update).
UPDATE_SCRATCH = {"adagrad": 2, "adam": 1, "sgd": 1}
# Per layer, one window's forward caches and the largest backward temporaries, in units of
# T*B*H values (T+1 counted as T: the difference is one (B, H) row).
FORWARD_CACHE = {
    "rnn": 2,
    "lstm": 7,
    "gru": 7,
}  # rnn: xproj, hs; lstm: K(4), hs, A, f; gru: gates(3), rec(3), hs
BACKWARD_EXTRA = {
    "rnn": 1,
    "lstm": 4,
    "gru": 6,
}  # rnn: tanh'; lstm: dxproj(4); gru: Q(3), Kn, 2 temporaries
VALIDATION_STREAMS, VALIDATION_CHUNK = 32, 50  # as streams.validation_loss reads the held-out text


class InsufficientMemoryError(ConfigError):
    """The configuration needs more memory than is available; the message names both."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a configuration needs to train, by what they hold."""

    weights: int  # parameters, gradients, optimiser slots, update scratch
    activations: int  # the largest transient: a training window, a validation chunk, or a save
    text: int  # the text as Python holds it, its encoding's temporary, and the encoded ids
    baseline: int  # the interpreter, NumPy and the engine

    @property
    def total(self) -> int:
        """Everything at the peak."""
        return self.weights + self.activations + self.text + self.baseline


def training_bytes(
    config: Any, vocab_size: int, text_chars: int, char_bytes: int = 1
) -> MemoryEstimate:
    """Estimated bytes at the peak of training `config` on a text of `text_chars` characters.

    `char_bytes` is how many bytes Python spends per character of the text (1 for Latin-1,
    2 for other BMP text, 4 with characters beyond it). Nothing is allocated.
    """
    model = CharModel(config, vocab_size)  # shapes only: no arrays are made
    item = model.dtype.itemsize
    P = model.param_count()
    H, L, V = config.hidden_size, config.num_layers, vocab_size
    T, B = config.seq_length, config.batch_size
    cell = config.cell
    G = model.cells[0].gates
    slots = len(OPTIMIZER_SLOTS[config.optimizer])
    weights = P * item * (2 + slots + UPDATE_SCRATCH.get(config.optimizer, 1))

    window = T * B * H  # values in one (T, B, H) array
    caches = L * FORWARD_CACHE[cell] * window
    if getattr(config, "dropout", 0.0) > 0:
        caches += L * 2 * window  # a mask and a masked copy: every upper layer's input, the head's
    dWh = G * H * H  # each layer's recurrent weight gradient is a fresh (G*H, H) product
    transposed = G * H * H if (cell != "rnn" or B > 1) else 0  # the recurrent weights' copy
    one_hot = T * B * V if V <= 256 else 0  # rows of the identity for layer 0's dWx
    backward = BACKWARD_EXTRA[cell] * window + dWh + transposed + window + one_hot
    logits = T * B * V  # the logits, turned in place into their gradient
    # the input projection's transient: layer 0's (G, V, H) lookup table when the window holds
    # at least V ids, each upper layer's gate-major copy of its (G*H, H) input weights
    forward = max(G * V * H if T * B >= V else 0, G * H * H if L > 1 else 0) + transposed
    train = caches + logits + window + max(backward, forward)

    streams, chunk = VALIDATION_STREAMS, VALIDATION_CHUNK
    val_window = streams * chunk * H
    validation = L * (G + 1) * val_window + transposed + forward + streams * chunk * V * 8 // item
    clipping = P + P // item  # |g| and the comparison's booleans (clip by value)
    checkpoint = (1 + slots) * P  # a save copies the optimiser state; a restore reads it all
    activations = item * max(train, validation, clipping, checkpoint)

    id_bytes = 1 if V <= 256 else 2 if V <= 65536 else 4
    text = text_chars * (char_bytes + 1 + id_bytes)
    return MemoryEstimate(weights, activations, text, BASELINE_BYTES)


def check_memory(
    config: Any,
    vocab_size: int,
    text_chars: int,
    *,
    char_bytes: int = 1,
    available: int | None = None,
) -> MemoryEstimate:
    """The estimate, or InsufficientMemoryError (one line) if it exceeds what is available.

    `available` defaults to available_memory(); when that cannot be told (not Linux) the check
    passes. Call it after the corpus is loaded and before the Trainer is built.
    """
    estimate = training_bytes(config, vocab_size, text_chars, char_bytes)
    if available is None:
        available = available_memory()
    if available is not None and estimate.total > available:
        raise InsufficientMemoryError(
            f"this configuration needs about {format_bytes(estimate.total)} to train; "
            f"{format_bytes(available)} is available; {_advice(estimate)}"
        )
    return estimate


def _advice(estimate: MemoryEstimate) -> str:
    largest = max(
        ("weights", estimate.weights),
        ("activations", estimate.activations),
        ("text", estimate.text),
        key=lambda item: item[1],
    )[0]
    if largest == "text":
        return "use a shorter text, or free some memory"
    if largest == "activations":
        return "use a smaller --batch-size, --seq-length, --hidden-size or --num-layers"
    return "use a smaller --hidden-size, --num-layers or --batch-size"


def format_bytes(count: int) -> str:
    """'62 GiB', '3.4 GiB', '512 MiB', '900 KiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{count} bytes"


# -- what the machine has ------------------------------------------------------------------------


def available_memory(
    proc: str | os.PathLike = "/proc", cgroup_root: str | os.PathLike = "/sys/fs/cgroup"
) -> int | None:
    """Bytes this process can still get: MemAvailable, or less if a cgroup limit leaves less.

    None when neither can be read (not Linux). The roots are parameters so tests can use fakes.
    """
    candidates = [meminfo_available(proc), cgroup_headroom(proc, cgroup_root)]
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def meminfo_available(proc: str | os.PathLike = "/proc") -> int | None:
    """MemAvailable from /proc/meminfo (the kernel's estimate of memory usable without swapping)."""
    try:
        lines = Path(proc, "meminfo").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, rest = line.partition(":")
        if key == "MemAvailable":
            parts = rest.split()
            if parts and parts[0].isdigit():
                return int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return None


def cgroup_headroom(
    proc: str | os.PathLike = "/proc", cgroup_root: str | os.PathLike = "/sys/fs/cgroup"
) -> int | None:
    """Limit minus usage (reclaimable file cache not counted) of this process's memory cgroup,
    the tightest along its path to the root; None when there is no limit or no cgroup."""
    try:
        lines = Path(proc, "self", "cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    root = Path(cgroup_root)
    best: int | None = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, where = parts
        if controllers == "":  # cgroup v2: the unified hierarchy
            base = root / "unified" if (root / "unified" / "cgroup.controllers").exists() else root
            found = _headroom_along(base, where, "memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):  # cgroup v1
            found = _headroom_along(
                root / "memory",
                where,
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "total_inactive_file",
            )
        else:
            continue
        if found is not None and (best is None or found < best):
            best = found
    return best


def _headroom_along(
    base: Path, where: str, limit_name: str, usage_name: str, cache_key: str
) -> int | None:
    """The smallest limit - usage over the cgroup folders from `where` up to `base`.

    Inside a container the process's own cgroup path is often not visible and `base` itself is
    the container's cgroup: every existing folder along the way is looked at.
    """
    folders = []
    rel = Path(where.strip().lstrip("/"))
    while True:
        folders.append(base / rel)
        if rel == Path("."):
            break
        rel = rel.parent
    best: int | None = None
    for folder in folders:
        limit = _read_int(folder / limit_name)
        if limit is None or limit >= 2**60:  # "max", or v1's "unlimited" (a page below 2**63)
            continue
        usage = _read_int(folder / usage_name) or 0
        usage -= _stat_value(folder / "memory.stat", cache_key) or 0
        room = max(0, limit - max(0, usage))
        if best is None or room < best:
            best = room
    return best


def _read_int(path: Path) -> int | None:
    try:
        raw = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(raw) if raw.isdigit() else None


def _stat_value(path: Path, key: str) -> int | None:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def char_bytes_of(text: str) -> int:
    """Bytes per character Python uses for `text` (1, 2 or 4: PEP 393's compact forms)."""
    if text.isascii():
        return 1
    widest = ord(max(text))
    return 1 if widest < 256 else 2 if widest < 65536 else 4
