"""Memory (defect 8 of "Reliability, round two"): settings inside the allowed ranges asked for
more memory than the machine has (`--cell lstm --hidden-size 8192 --num-layers 16`: a 62 GiB
allocation and a traceback). `engine/memory.py` estimates what training needs and refuses up
front, in one line, without allocating it.

The estimate is held against the measured peak RSS (getrusage in a child process) of real short
training runs, validation pass and checkpoint save included: it must be within MAX_FACTOR of it
either way (measured: 0.91-1.03, see docs/reliability.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rnn_tui.engine import Config, ConfigError
from rnn_tui.engine.memory import (
    InsufficientMemoryError,
    available_memory,
    cgroup_headroom,
    char_bytes_of,
    check_memory,
    format_bytes,
    meminfo_available,
    training_bytes,
)

MAX_FACTOR = 1.5
TEXT_CHARS = 200_000
# Large enough that the model, not the interpreter, dominates the peak; a few steps each.
MEASURED = {
    "lstm-2x256-b64": dict(
        cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=64,
        optimizer="adam", dtype="float32",
    ),
    "rnn-2048-classic": dict(cell="rnn", hidden_size=2048, batch_size=1, seq_length=25),
    "gru-3x384-dropout": dict(
        cell="gru", hidden_size=384, num_layers=3, batch_size=32, seq_length=100,
        dropout=0.2, optimizer="adam", dtype="float32",
    ),
}  # fmt: skip
COMMON = dict(learning_rate=0.001, sample_every=0, val_every=2, val_max_chars=3000)

CHILD = """
import json, resource, sys
from conftest import make_text
from rnn_tui.engine import Config, Trainer
config = Config(**json.loads(sys.argv[1]))
trainer = Trainer(config, make_text(int(sys.argv[2])))
trainer.run(lambda event: None, max_steps=3)   # a validation pass at step 2
trainer.save(sys.argv[3])                        # and a checkpoint save
print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "vocab": len(trainer.vocab)}))
"""


def measure(name: str, folder: Path) -> dict:
    settings = dict(MEASURED[name], **COMMON)
    tests = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(settings), str(TEXT_CHARS), str(folder / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tests,  # for `from conftest import make_text`
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("memory")
    with ThreadPoolExecutor(max_workers=2) as pool:  # peak RSS is per process: no interference
        results = pool.map(lambda name: measure(name, folder), MEASURED)
        return dict(zip(MEASURED, results, strict=True))


@pytest.mark.parametrize("name", MEASURED)
def test_the_estimate_is_within_a_factor_of_the_measured_peak(name, measured):
    peak, vocab = measured[name]["peak"], measured[name]["vocab"]
    config = Config(**MEASURED[name], **COMMON)
    estimate = training_bytes(config, vocab, TEXT_CHARS).total
    ratio = estimate / peak
    assert 1 / MAX_FACTOR <= ratio <= MAX_FACTOR, (
        f"{name}: estimated {format_bytes(estimate)}, measured {format_bytes(peak)} ({ratio:.2f}x)"
    )
    assert peak > 3 * training_bytes(config, vocab, 0).baseline  # the model dominates the peak


def test_the_reported_configuration_is_refused_without_allocating_it():
    """The issue's command line: `--cell lstm --hidden-size 8192 --num-layers 16` (kafka.txt)."""
    config = Config(cell="lstm", hidden_size=8192, num_layers=16)
    tracemalloc.start()
    try:
        with pytest.raises(InsufficientMemoryError) as info:
            check_memory(config, 80, 137_000, available=21 * 2**30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 * 2**20, f"the check itself allocated {peak:,} bytes"
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("this configuration needs about ") and " GiB to train; " in message
    assert "; 21 GiB is available; use a smaller --hidden-size, --num-layers" in message, message
    needed = float(message.split("needs about ")[1].split(" GiB")[0])
    # 16 layers x (4*8192) x (8192 + 8192) weights, float64, four copies (+ grads, Adagrad's
    # memory and its two scratch buffers), at the least
    assert needed >= 16 * 4 * 8192 * 16384 * 8 * 4 / 2**30
    assert isinstance(info.value, ConfigError)  # the CLI's existing handler: exit 2, one line


def test_the_reported_configuration_is_refused_on_this_machine():
    if available_memory() is None:
        pytest.skip("the available memory cannot be told here")
    with pytest.raises(InsufficientMemoryError, match=" is available; "):
        check_memory(Config(cell="lstm", hidden_size=8192, num_layers=16), 80, 137_000)


def test_the_presets_pass_and_return_their_estimate():
    for settings in ({}, dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=16)):
        estimate = check_memory(Config(**settings), 80, 1_115_394, available=4 * 2**30)
        assert estimate.total < 1 * 2**30


def test_the_weights_term_counts_each_parameter_array_the_optimisers_need():
    """Exact for a planted case: classic RNN, H=100, V=65 (Adagrad: grads, memory, 2 scratch)."""
    params = 100 * 65 + 100 * 100 + 65 * 100 + 100 + 65
    estimate = training_bytes(Config(), 65, 0)
    assert estimate.weights == params * 8 * (1 + 1 + 1 + 2)
    adam = training_bytes(Config(optimizer="adam", dtype="float32"), 65, 0)
    assert adam.weights == params * 4 * (1 + 1 + 2 + 1)


def test_the_activation_term_grows_with_the_window_and_the_text_term_with_the_text():
    def at(batch: int, chars: int = 10_000):
        return training_bytes(Config(hidden_size=512, batch_size=batch, seq_length=50), 65, chars)

    # one window's caches and logits are linear in the batch (once they outweigh a validation
    # chunk, from batch 16 here); the weights do not depend on it
    assert at(64).activations - at(16).activations == 3 * (at(32).activations - at(16).activations)
    assert at(16).activations > at(8).activations and at(64).weights == at(8).weights
    assert at(8, 10**9).text == 10**9 * (1 + 1 + 1)  # the str, encode's bytes, the uint8 ids
    assert at(8, 10**9).activations == at(8).activations


def test_the_advice_names_what_dominates():
    with pytest.raises(InsufficientMemoryError, match="use a shorter text"):
        check_memory(Config(), 65, 2 * 10**9, char_bytes=4, available=2**30)
    with pytest.raises(InsufficientMemoryError, match="--batch-size, --seq-length"):
        check_memory(Config(batch_size=4096, seq_length=10_000), 65, 10**6, available=2**30)


def test_char_bytes_follow_pythons_string_widths():
    assert [char_bytes_of(t) for t in ("abc", "café", "€uro", "🙂 ok")] == [1, 1, 2, 4]


# -- what the machine has: /proc/meminfo and the cgroup, faked -----------------------------------


def fake_proc(root: Path, available_kb: int | None, cgroup_lines: str) -> Path:
    proc = root / "proc"
    (proc / "self").mkdir(parents=True)
    lines = ["MemTotal:       24684084 kB", "MemFree:         1000000 kB"]
    if available_kb is not None:
        lines.append(f"MemAvailable:   {available_kb} kB")
    (proc / "meminfo").write_text("\n".join(lines) + "\n")
    (proc / "self" / "cgroup").write_text(cgroup_lines)
    return proc


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_meminfo_alone(tmp_path):
    proc = fake_proc(tmp_path, 8_000_000, "0::/\n")
    assert meminfo_available(proc) == 8_000_000 * 1024
    assert available_memory(proc, tmp_path / "no-cgroups") == 8_000_000 * 1024


def test_a_cgroup_v2_limit_below_meminfo_wins(tmp_path):
    proc = fake_proc(tmp_path, 8_000_000, "0::/user.slice/session-1.scope\n")
    group = tmp_path / "cg" / "user.slice" / "session-1.scope"
    write(group / "memory.max", f"{2 * 2**30}\n")
    write(group / "memory.current", f"{1 * 2**30}\n")
    write(group / "memory.stat", f"anon 100\ninactive_file {256 * 2**20}\n")
    write(tmp_path / "cg" / "user.slice" / "memory.max", "max\n")  # a parent without a limit
    expected = 2 * 2**30 - (2**30 - 256 * 2**20)  # limit - (usage - reclaimable file cache)
    assert cgroup_headroom(proc, tmp_path / "cg") == expected
    assert available_memory(proc, tmp_path / "cg") == expected


def test_a_tighter_parent_cgroup_counts(tmp_path):
    proc = fake_proc(tmp_path, 8_000_000, "0::/a/b\n")
    write(tmp_path / "cg" / "a" / "b" / "memory.max", f"{4 * 2**30}\n")
    write(tmp_path / "cg" / "a" / "memory.max", f"{2**30}\n")
    write(tmp_path / "cg" / "a" / "memory.current", "0\n")
    assert cgroup_headroom(proc, tmp_path / "cg") == 2**30


def test_a_cgroup_v1_limit_inside_a_container(tmp_path):
    """The process's own cgroup path is not visible in the container: the mount root is it."""
    proc = fake_proc(tmp_path, 8_000_000, "4:memory:/docker/abc123\n1:cpu:/docker/abc123\n")
    v1 = tmp_path / "cg" / "memory"
    write(v1 / "memory.limit_in_bytes", f"{3 * 2**30}\n")
    write(v1 / "memory.usage_in_bytes", f"{2**30}\n")
    write(v1 / "memory.stat", "total_inactive_file 0\n")
    assert cgroup_headroom(proc, tmp_path / "cg") == 2 * 2**30


def test_an_unlimited_cgroup_leaves_meminfo(tmp_path):
    proc = fake_proc(tmp_path, 5_000_000, "4:memory:/x\n")
    write(tmp_path / "cg" / "memory" / "x" / "memory.limit_in_bytes", "9223372036854771712\n")
    assert cgroup_headroom(proc, tmp_path / "cg") is None
    assert available_memory(proc, tmp_path / "cg") == 5_000_000 * 1024


def test_nothing_to_read_means_unknown_and_the_check_passes(tmp_path):
    proc = tmp_path / "empty"
    assert available_memory(proc, tmp_path / "none") is None
    assert meminfo_available(proc) is None


def test_format_bytes():
    assert [format_bytes(n) for n in (62 * 2**30, int(3.44 * 2**30), 512 * 2**20, 900 * 1024)] == [
        "62 GiB",
        "3.4 GiB",
        "512 MiB",
        "900 KiB",
    ]
