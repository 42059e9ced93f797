"""What NumPy cannot go below: the floors behind the classic 5x and LSTM 1.0x speed targets.

    python bench/bench_floor.py [--repeats 7]

1. Classic (B = 1, float64, hidden 100, window 25, vocabulary 80), one BLAS thread: the best time
   of each call a NumPy training step cannot avoid, summed per window (three calls per time step
   forward and backward, Adagrad's square root and division over all 26,180 weights plus five
   cheap passes, the head's five matmuls), against the plain reference's best time per window.
2. The issue's LSTM (2 x 256, window 25, B 64, float32, vocabulary 65), two BLAS threads: the best
   time of every matrix product one window needs, summed; the elementwise work of the real LSTM
   cell (timed whole, minus its products); the engine's whole step; PyTorch's whole step when
   torch is installed.
   Before it, one gate's ufunc calls on a contiguous block and on a column slice (the layouts the
   cells get now and used to get). Then the GFLOP/s of the per-step products in the engine's
   orientation, feature-major and in PyTorch, and the window run as two half-batch Python threads
   against one.
3. Page faults and time per step of the `lstm` preset with and without
   `engine.allocator.retain_freed_memory`, each in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchlib import REPO, reference_classic
from rnn_tui.engine.allocator import retain_freed_memory

CORPUS = REPO.parent / "shared" / "corpora" / "tinyshakespeare.txt"
REPEATS = 7


def best_us(fn, calls: int = 200) -> float:
    """Best of REPEATS timings of `calls` calls, in microseconds per call."""
    fn()
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def classic_floor(rng: np.random.Generator) -> None:
    ref = reference_classic()

    H, V, T, n = 100, 80, 25, 26_180
    W, h, out = rng.standard_normal((H, H)) * 0.01, rng.standard_normal(H), np.empty(H)
    gemv = best_us(lambda: W.dot(h, out), 5000)
    add = best_us(lambda: np.add(out, h, out), 5000)
    tanh = best_us(lambda: np.tanh(h, out), 5000)
    g, m, s = rng.standard_normal(n), rng.random(n) + 1.0, np.empty(n)
    sqrt = best_us(lambda: np.sqrt(m, s))
    div = best_us(lambda: np.divide(g, m, s))
    cheap = best_us(lambda: np.add(g, m, s))
    top, Why, dy = (
        rng.standard_normal((T, H)),
        rng.standard_normal((V, H)),
        rng.standard_normal((T, V)),
    )
    head = (
        best_us(lambda: top @ Why.T)  # logits
        + best_us(lambda: dy.T @ top)  # dWhy
        + best_us(lambda: dy @ Why)  # gradient into h
        + best_us(lambda: top.T @ top)  # dWhh
        + best_us(lambda: top.T @ dy)  # dWxh as a one-hot product
    )
    recurrence = T * (gemv + add + tanh) + T * (add + add + gemv)
    adagrad = sqrt + div + 5 * cheap
    floor = recurrence + adagrad + head
    ids = rng.integers(0, V, 20_000)
    run = ref.ClassicRun(ids, V, seed=0)
    reference = min(T * 1e6 / ref.chars_per_second(run, 100) for _ in range(REPEATS))
    print("classic, one BLAS thread, best call times:")
    print(f"  gemv 100x100 {gemv:.2f} us, add {add:.2f} us, tanh {tanh:.2f} us (100 numbers)")
    print(f"  over 26,180 float64: sqrt {sqrt:.1f} us, divide {div:.1f} us, add {cheap:.1f} us")
    print(
        f"  per window: recurrence {recurrence:.0f} us + Adagrad {adagrad:.0f} us + head {head:.0f} us "
        f"= {floor:.0f} us with no bookkeeping at all"
    )
    print(f"  plain reference, best window: {reference:.0f} us -> ceiling {reference / floor:.1f}x")


def lstm_floor(rng: np.random.Generator) -> None:
    f32 = np.float32
    B, T, H, V, GH = 64, 25, 256, 65, 1024  # GH: the four gates' columns

    def r(*shape):
        return rng.standard_normal(shape).astype(f32)

    h, WhT, K, Wh = r(B, H), r(H, GH), r(B, GH), r(GH, H)
    X, WxT, D, Y, dY, Why = r(T * B, H), r(H, GH), r(T * B, GH), r(T * B, H), r(T * B, V), r(V, H)
    onehot = r(T * B, V)
    forward_us, backward_us = best_us(lambda: h @ WhT, 100), best_us(lambda: K @ Wh, 100)
    per_step = forward_us + backward_us
    weight_gradient_us = best_us(lambda: D.T @ Y, 20)
    window = (
        best_us(lambda: X @ WxT, 20)  # second layer's input projection
        + 2 * weight_gradient_us  # both recurrent weight gradients
        + best_us(lambda: D.T @ X, 20)  # second layer's input weight gradient
        + best_us(lambda: D @ WxT.T, 20)  # gradient into the first layer's output
        + best_us(lambda: D.T @ onehot, 20)  # first layer's input weight gradient (one-hot)
        + best_us(lambda: Y @ Why.T, 20)
        + best_us(lambda: dY.T @ Y, 20)
        + best_us(lambda: dY @ Why, 20)
    )
    total_ms = (2 * T * per_step + window) / 1000
    in_cell_products = T * forward_us + (T - 1) * backward_us + weight_gradient_us
    gates_ms = 2 * lstm_cell_elementwise_ms(r, B, T, H, in_cell_products)  # two layers
    print("LSTM 2x256, window 25, B 64, float32, two BLAS threads:")
    print(
        f"  per-step products {2 * T * per_step / 1000:.1f} ms + whole-window products "
        f"{window / 1000:.1f} ms = {total_ms:.1f} ms of matrix products per window"
    )
    floor_ms = total_ms + gates_ms
    print(
        f"  the elementwise work and overhead of engine/lstm.py (its cell timed whole, minus these "
        f"products, both layers): {gates_ms:.1f} ms -> {floor_ms:.1f} ms per window"
    )
    from bench_torch import MODELS, TorchRun  # bench/ is on sys.path when run as a script

    from rnn_tui.engine import Trainer

    trainer = Trainer(MODELS["lstm"], CORPUS.read_text(encoding="utf-8"))
    for _ in range(3):
        trainer.train_step()
    engine_ms = min(timed_steps(trainer.step, 5) for _ in range(REPEATS))
    print(
        f"  the engine's whole step (Trainer.step), best of {REPEATS} x 5: {engine_ms:.1f} ms, "
        f"of which {engine_ms - floor_ms:.1f} ms is everything else (softmax head, Adam, "
        f"clipping, lookups, Python)"
    )
    try:
        import torch
    except ImportError:
        print("  PyTorch is not installed: no comparison")
        return
    torch.set_num_threads(2)
    run = TorchRun(torch, MODELS["lstm"], trainer)
    run.run(3)
    step_ms = min(run.run(5) / 5 for _ in range(REPEATS)) * 1000
    print(
        f"  PyTorch's whole step, best of {REPEATS} x 5: {step_ms:.1f} ms: the products alone are "
        f"{total_ms / step_ms:.2f} of it, with the elementwise work {floor_ms / step_ms:.2f}, and "
        f"parity leaves {step_ms - floor_ms:.1f} ms for everything else"
    )


def timed_steps(step, n: int) -> float:
    """Milliseconds per call of `step` over n calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1000


def lstm_cell_elementwise_ms(r, B: int, T: int, H: int, products_us: float) -> float:
    """One layer's elementwise work per window as engine/lstm.py does it: the real cell's forward
    and backward timed whole, minus the best times of the matrix products inside them."""
    from rnn_tui.engine.lstm import LSTMCell

    cell = LSTMCell(H)
    x, Wh, state0, dhs = 0.5 * r(4, T, B, H), 0.08 * r(4 * H, H), 0.1 * r(2, B, H), r(T, B, H)

    def window():
        _, cache, _ = cell.forward(x.copy(), Wh, state0)  # the cell overwrites its inputs
        cell.backward(dhs.copy(), cache, Wh)

    copies = best_us(lambda: (x.copy(), dhs.copy()), 5)
    return (best_us(window, 5) - copies - products_us) / 1000


def gate_block_layouts(rng: np.random.Generator) -> None:
    """Why cells take their input projections gate-major: the same ufunc calls on one gate of a step
    as a contiguous (B, H) block and as the column slice of a (B, 4H) row."""
    B, H = 64, 256
    rows = [rng.random((B, 4 * H), dtype=np.float32) for _ in range(2)]
    blocks = [rng.random((4, B, H), dtype=np.float32) for _ in range(2)]
    out = np.empty((B, H), np.float32)
    print(
        f"one gate of one step (B {B}, H {H}, float32), contiguous block vs column slice of a row:"
    )
    for name, op in (
        ("multiply", lambda x, y: np.multiply(x, y, out=out)),
        ("tanh", lambda x, _: np.tanh(x, out=out)),
    ):
        block = best_us(lambda op=op: op(blocks[0][2], blocks[1][3]), 2000)
        sliced = best_us(lambda op=op: op(rows[0][:, 2 * H : 3 * H], rows[1][:, 3 * H :]), 2000)
        print(
            f"  {name}: {block:.1f} us as a block, {sliced:.1f} us as a slice ({sliced / block:.1f}x)"
        )


def product_us(a, b) -> float:
    """Best time of a @ b (NumPy arrays or torch tensors)."""
    return best_us(lambda: a @ b, 100)


def lstm_product_rates(rng: np.random.Generator) -> None:
    """GFLOP/s of the LSTM's per-step products in the orientation the engine uses (time-major,
    (B, H) @ (H, 4H) and (B, 4H) @ (4H, H), on contiguous weights), on transposed views of the
    weights, feature-major ((4H, H) @ (H, B) and (H, 4H) @ (4H, B)), and in PyTorch for the
    engine's orientation."""
    try:
        import torch
    except ImportError:
        torch = None
    H = 256
    print("LSTM per-step products, GFLOP/s (best call), two threads:")
    for B in (16, 64):
        h, hT, da, daT = (
            rng.standard_normal(s).astype(np.float32)
            for s in ((B, H), (H, B), (B, 4 * H), (4 * H, B))
        )
        W = rng.standard_normal((4 * H, H)).astype(np.float32)
        WT = np.ascontiguousarray(W.T)
        flop = 2 * B * H * 4 * H / 1e3  # per us -> GFLOP/s
        rates = {
            "engine (time-major)": (product_us(h, WT), product_us(da, W)),
            "on transposed views": (product_us(h, W.T), product_us(da, WT.T)),
            "feature-major": (product_us(W, hT), product_us(WT, daT)),
        }
        if torch is not None:
            th, tWT, tda, tW = (torch.from_numpy(a) for a in (h, WT, da, W))
            rates["PyTorch (time-major)"] = (product_us(th, tWT), product_us(tda, tW))
        cells = ", ".join(f"{k} {flop / f:.0f} / {flop / b:.0f}" for k, (f, b) in rates.items())
        print(f"  B {B} (forward / backward): {cells}")


def run_child(template: str, **fields) -> dict:
    """Run a child script (a template with {repo} and {corpus}) in a fresh Python; its JSON line."""
    code = template.format(repo=str(REPO), corpus=str(CORPUS), **fields)
    done = subprocess.run(  # in bench/, so the child imports bench_torch as this script does
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO / "bench"
    )
    if done.returncode:
        raise RuntimeError(f"child process failed:\n{done.stderr}")
    return json.loads(done.stdout)


BATCH_SPLIT_CHILD = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from threadpoolctl import threadpool_limits
from rnn_tui.engine import Trainer
from rnn_tui.engine.allocator import retain_freed_memory
from bench_torch import MODELS
retain_freed_memory()
trainer = Trainer(MODELS["lstm"], open({corpus!r}).read())
model, params, state = trainer.model, trainer.params, trainer.hidden_state
inputs, targets, _ = trainer.streams.next_window()
half = inputs.shape[1] // 2
grads = [model.new_grads() for _ in range(3)]
pool = ThreadPoolExecutor(1)

def whole():  # one Python thread, two BLAS threads
    model.loss_and_grads(params, inputs, targets, state, None, grads[0])

def split():  # two Python threads with half of the batch each, one BLAS thread each
    other = pool.submit(model.loss_and_grads, params, inputs[:, :half], targets[:, :half],
                        state[:, :, :half], None, grads[1])
    model.loss_and_grads(params, inputs[:, half:], targets[:, half:], state[:, :, half:], None, grads[2])
    other.result()

fn = split if {split} else whole
threadpool_limits(1 if {split} else 2, user_api="blas")
for _ in range(3):
    fn()
t0 = time.perf_counter()
for _ in range(10):
    fn()
print(json.dumps({{"ms": (time.perf_counter() - t0) / 10 * 1e3}}))
"""


def batch_split() -> None:
    """The issue's LSTM window (forward + backward) as one Python thread with two BLAS threads,
    against the two halves of the batch in two Python threads with one BLAS thread each (NumPy
    releases the GIL inside BLAS and ufunc loops). Fresh processes, alternating: OpenBLAS slows
    down when one process switches between the two."""
    print("LSTM window as one Python thread, or as two with half the batch each (fresh processes):")
    for split in (False, True, False, True):
        out = run_child(BATCH_SPLIT_CHILD, split=split)
        label = "two threads, half each" if split else "one thread            "
        print(f"  {label}: {out['ms']:5.1f} ms per window (forward + backward)")


FAULTS_CHILD = """
import json, resource, sys, time
from threadpoolctl import threadpool_limits
from rnn_tui.engine import Trainer, preset
from rnn_tui.engine.allocator import retain_freed_memory
if {retain}:
    retain_freed_memory()
threadpool_limits(2, user_api="blas")
trainer = Trainer(preset("lstm").replace(val_every=0, sample_every=0), open({corpus!r}).read())
for _ in range(3):
    trainer.train_step()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(20):
    trainer.train_step()
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"faults": (r1.ru_minflt - r0.ru_minflt) / 20, "ms": (time.perf_counter() - t0) / 20 * 1e3}}))
"""


def page_faults() -> None:
    print("lstm preset, 20 steps after 3 warm-up steps, fresh process each (alternating):")
    for retain in (False, True, False, True):
        out = run_child(FAULTS_CHILD, retain=retain)
        label = "retain_freed_memory" if retain else "glibc default      "
        print(f"  {label}: {out['faults']:6.0f} page faults/step, {out['ms']:5.1f} ms/step")


def main(argv: list[str] | None = None) -> int:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="best of this many timings")
    REPEATS = parser.parse_args(argv).repeats
    if not CORPUS.is_file():
        parser.error(f"{CORPUS} not found (the shared corpora beside the repository)")
    retain_freed_memory()  # as rnn-tui and bench_torch run (PyTorch's allocator uses it too)
    rng = np.random.default_rng(0)
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}; numpy {np.__version__}")
    with threadpool_limits(1, user_api="blas"):
        classic_floor(rng)
    gate_block_layouts(rng)
    with threadpool_limits(2, user_api="blas"):
        lstm_floor(rng)
        lstm_product_rates(rng)
    batch_split()
    page_faults()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
