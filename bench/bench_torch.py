"""Training speed of the engine against PyTorch on the CPU: same model, data, batch, window, dtype
and number of threads, measured in the same run and printed as ratios.

    python bench/bench_torch.py                      # both models, 2 threads, float32
    python bench/bench_torch.py --threads 1 --repeats 7 --models lstm

One "step" is what the Trainer does per window: forward, full backward, clipping and the optimiser
update, with the hidden state carried to the next window. The engine side *is* `Trainer.train_step()`;
the PyTorch side is nn.RNN / nn.LSTM with a one-hot input (the same function as the engine's
column lookup of Wx), a Linear head, cross-entropy summed over the window and averaged over the
streams, the same optimiser and clipping. Both read the same windows of the same text.

Models (the issue's; `--models preset:lstm,preset:gru` measures presets as they are):
    vanilla  tanh RNN, hidden 100, window 25, batch 32, Adagrad 0.1, clip by value 5
    lstm     LSTM 2 x 256, window 25, batch 64, Adam 2e-3, clip by global norm 5

Threads: NumPy's BLAS is limited with threadpoolctl when it is installed, otherwise through
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS set before NumPy is imported (this script
sets them itself; the method used is printed). PyTorch gets torch.set_num_threads(n). The matmul
peak (a large float32 matmul through NumPy, and through PyTorch) is measured in the same run, and
the LSTM's useful FLOP rate is reported as a fraction of it.

PyTorch is optional: without it the engine numbers are printed and the comparison is skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "tinyshakespeare.txt"


def _threads_from_argv(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 2


# Thread limits must be in the environment before NumPy (and its BLAS) loads.
_THREADS = _threads_from_argv(sys.argv[1:])
try:
    import threadpoolctl  # noqa: F401

    THREAD_METHOD = "threadpoolctl"
except ImportError:
    THREAD_METHOD = "environment (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS)"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(_THREADS)

import numpy as np  # noqa: E402

from rnn_tui.engine import Config, Trainer, preset  # noqa: E402
from rnn_tui.engine.allocator import retain_freed_memory  # noqa: E402

MODELS = {
    "vanilla": Config(
        cell="rnn",
        hidden_size=100,
        seq_length=25,
        batch_size=32,
        learning_rate=0.1,
        optimizer="adagrad",
        clip=5.0,
        clip_mode="value",
        dtype="float32",
        val_every=0,
        sample_every=0,
    ),
    "lstm": Config(
        cell="lstm",
        hidden_size=256,
        num_layers=2,
        seq_length=25,
        batch_size=64,
        learning_rate=2e-3,
        optimizer="adam",
        clip=5.0,
        clip_mode="norm",
        init_scale=0.08,
        dtype="float32",
        val_every=0,
        sample_every=0,
    ),
}


def model_flops_per_char(cfg: Config, vocab: int) -> float:
    """Useful matmul FLOPs per character, forward + backward (x3): recurrent, inter-layer, head.

    The first layer's input is a column lookup, not a matmul, so it counts nothing here (PyTorch's
    one-hot matmul for it is extra work that PyTorch does and the engine does not).
    """
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cfg.cell]
    H, L = cfg.hidden_size, cfg.num_layers
    forward = 2 * (L * G * H * H + (L - 1) * G * H * H + H * vocab)
    return 3.0 * forward


def load_text(path: Path) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8")
    # no corpus beside the repository: a deterministic pseudo-text of the same size class
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz ,.;:!?\n'ABCDEFGHIJKLMNOPQRSTUVWXYZ-"))
    return "".join(letters[rng.integers(0, len(letters), 1_000_000)])


def limit_numpy_threads(n: int):
    """A threadpoolctl context limiting BLAS threads, or None when the environment did it."""
    if THREAD_METHOD != "threadpoolctl":
        return None
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n)


def matmul_peak_numpy(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of `repeats` float32 (size x size) @ (size x size) products."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    out = np.empty_like(a)
    np.dot(a, b, out=out)
    best = min(_timed(lambda: np.dot(a, b, out=out)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def matmul_peak_torch(torch, size: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class EngineRun:
    """The engine's Trainer on the text; `run(steps)` returns the seconds they took."""

    def __init__(self, cfg: Config, text: str):
        self.trainer = Trainer(cfg, text)
        self.chars_per_step = cfg.seq_length * cfg.batch_size

    def run(self, steps: int) -> float:
        step = self.trainer.step
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return time.perf_counter() - t0


class TorchRun:
    """The same model, data, optimiser and clipping in PyTorch."""

    def __init__(self, torch, cfg: Config, trainer: Trainer):
        import torch.nn as nn

        self.torch, self.cfg = torch, cfg
        dtype = {"float32": torch.float32, "float64": torch.float64}[cfg.dtype]
        V, H = len(trainer.vocab), cfg.hidden_size
        torch.manual_seed(cfg.seed)
        if cfg.cell == "lstm":
            self.rnn = nn.LSTM(V, H, cfg.num_layers, dtype=dtype)
        elif cfg.cell == "gru":  # nn.GRU has an extra recurrent bias b_hn; the FLOPs are the same
            self.rnn = nn.GRU(V, H, cfg.num_layers, dtype=dtype)
        else:
            self.rnn = nn.RNN(V, H, cfg.num_layers, nonlinearity="tanh", dtype=dtype)
        self.head = nn.Linear(H, V, dtype=dtype)
        params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.params = params
        if cfg.optimizer == "adam":
            self.opt = torch.optim.Adam(
                params, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), eps=1e-8
            )
        else:
            self.opt = torch.optim.Adagrad(params, lr=cfg.learning_rate, eps=1e-8)
        self.V, self.dtype = V, dtype
        # same windows as the engine: a second cursor over the same training ids
        from rnn_tui.engine.streams import CharStreams

        self.streams = CharStreams(trainer.train_ids, cfg.batch_size, cfg.seq_length)
        shape = (cfg.num_layers, cfg.batch_size, H)
        zeros = torch.zeros(shape, dtype=dtype)
        self.state = (zeros, zeros.clone()) if cfg.cell == "lstm" else zeros
        self.chars_per_step = cfg.seq_length * cfg.batch_size

    def step(self) -> float:
        torch, cfg = self.torch, self.cfg
        F = torch.nn.functional
        inputs, targets, wrapped = self.streams.next_window()
        if wrapped:
            self.state = (
                tuple(s.zero_() for s in self.state) if cfg.cell == "lstm" else self.state.zero_()
            )
        x = F.one_hot(torch.from_numpy(inputs), self.V).to(self.dtype)  # (T, B, V)
        y = torch.from_numpy(targets).reshape(-1)
        self.opt.zero_grad(set_to_none=True)
        out, state = self.rnn(x, self.state)
        logits = self.head(out).reshape(-1, self.V)
        loss = F.cross_entropy(logits, y, reduction="sum") / cfg.batch_size
        loss.backward()
        if cfg.clip_mode == "norm":
            torch.nn.utils.clip_grad_norm_(self.params, cfg.clip)
        else:
            torch.nn.utils.clip_grad_value_(self.params, cfg.clip)
        self.opt.step()
        self.state = tuple(s.detach() for s in state) if cfg.cell == "lstm" else state.detach()
        return float(loss.detach())

    def run(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        return time.perf_counter() - t0


def measure(runs: dict, steps: int, repeats: int, warmup: int) -> dict[str, list[float]]:
    """chars/s per repeat for each run, the runs interleaved so machine noise hits all alike."""
    for r in runs.values():
        r.run(warmup)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, r in runs.items():
            rates[name].append(steps * r.chars_per_step / r.run(steps))
    return rates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--threads", type=int, default=2, help="BLAS / PyTorch threads for both (default 2)"
    )
    p.add_argument(
        "--models",
        default="vanilla,lstm",
        help="comma-separated: vanilla, lstm (the issue's), or preset:NAME for a preset as it is",
    )
    p.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per model (median reported)"
    )
    p.add_argument("--seconds", type=float, default=3.0, help="rough length of one timed repeat")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--no-torch", action="store_true", help="engine only")
    args = p.parse_args(argv)
    if args.threads != _THREADS:
        raise SystemExit("pass --threads as its own argument (it is read before NumPy loads)")

    limiter = limit_numpy_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: skipping the comparison (pip install torch to run it)")
    if torch is not None:
        torch.set_num_threads(args.threads)

    retained = retain_freed_memory()  # as `rnn-tui train` does
    text = load_text(args.corpus)
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M')}; python {sys.version.split()[0]}; numpy {np.__version__}"
        + (f"; torch {torch.__version__}" if torch is not None else "")
    )
    print(
        f"threads {args.threads} (numpy via {THREAD_METHOD}"
        + (f"; torch.set_num_threads -> {torch.get_num_threads()})" if torch is not None else ")")
    )
    print(
        f"corpus {args.corpus if args.corpus.is_file() else 'synthetic (corpus not found)'}; cpus {os.cpu_count()}; "
        f"load average {os.getloadavg()[0]:.2f}; glibc keeps freed memory mapped: {retained} "
        "(as rnn-tui sets it; PyTorch's allocator uses it too)"
    )
    peak_np = matmul_peak_numpy()
    line = f"matmul peak float32 2048^3: numpy {peak_np:.1f} GFLOP/s"
    peak_torch = None
    if torch is not None:
        peak_torch = matmul_peak_torch(torch)
        line += f", torch {peak_torch:.1f} GFLOP/s"
    print(line)

    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name.startswith("preset:"):
            cfg = preset(name.split(":", 1)[1]).replace(val_every=0, sample_every=0)
        else:
            cfg = MODELS[name]
        engine = EngineRun(cfg, text)
        runs: dict = {"engine": engine}
        if torch is not None:
            runs["torch"] = TorchRun(torch, cfg, engine.trainer)
        # steps per repeat: about --seconds of engine time
        per_step = engine.run(3) / 3
        probe = max(2, int(args.seconds / max(per_step, 1e-4)))
        rates = measure(runs, probe, args.repeats, warmup=3)
        med = {k: statistics.median(v) for k, v in rates.items()}
        desc = (
            f"{cfg.cell} {cfg.num_layers}x{cfg.hidden_size}, window {cfg.seq_length}, batch {cfg.batch_size}, "
            f"{cfg.dtype}, {cfg.optimizer}"
        )
        print(f"\n{name}: {desc}; {probe} steps x {args.repeats} repeats")
        for k, v in rates.items():
            print(
                f"  {k:6s} median {med[k] / 1e3:7.1f}k chars/s   (all: {', '.join(f'{x / 1e3:.1f}k' for x in v)})"
            )
        if "torch" in med:
            print(f"  ratio engine / torch = {med['engine'] / med['torch']:.2f}x")
        flops = model_flops_per_char(cfg, len(engine.trainer.vocab))
        for k in med:
            gflops = med[k] * flops / 1e9
            print(
                f"  {k:6s} {gflops:6.1f} GFLOP/s useful ({flops / 1e6:.2f} MFLOP/char) = "
                f"{gflops / peak_np:.0%} of the numpy matmul peak"
            )
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
