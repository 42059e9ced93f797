"""Run a pure, CPU-heavy function in a child process at a lower priority than training.

Why: the cell finder's search (a trace of 20,000 characters and the correlations) in a thread
beside training ran training at 0.25x of its speed for the ~3 s it took (docs/microscope.md).
Most of that is the cores, not the GIL: the same search in a child process at the same priority
still left training at 0.28x (training's two BLAS threads slow down badly when a core is taken).
A child with one BLAS thread at a lower priority trades the search's time for training's speed;
measured on 2 cores with the lstm preset training (`python bench/bench_microscope.py share`):
niceness +0: 4 s, training at 0.28x; +4: 7 s, 0.55x; +5: 12 s, 0.72x; +10: 21-26 s, 0.91x.
NICENESS is +4: the finder stays within its 10 s and training keeps half its speed or more.

The child is a fresh interpreter (`python -m rnn_tui.engine.offload`) fed over pipes, not a
`multiprocessing` process: forking a process that runs threads (the dashboard does) can copy a
held lock into the child, and multiprocessing's spawn needs a real stderr file descriptor,
which a Textual app has replaced. The function must be importable (a module-level function),
its arguments and result picklable, and it takes keyword arguments `progress` and
`should_abort`, as the probes do: progress fractions travel back; cancelling from the parent
kills the child at once. Only this process's own child reads what it sends (pipes, no socket).
"""

from __future__ import annotations

import os
import pickle
import selectors
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from .probe import ProbeCancelled, Progress, ShouldAbort

T = TypeVar("T")
NICENESS = 4  # added to the child's niceness (the trade-off is measured above)
PROGRESS_STEP = 0.01  # the child sends a fraction only when it has moved this much
POLL_SECONDS = 0.05  # how often the parent checks `should_abort` while it waits
_LENGTH = struct.Struct("<Q")  # each frame: its length, then a pickle
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class BackgroundProcessError(RuntimeError):
    """The child process died without a result (killed, out of memory)."""


def run_in_background_process(
    fn: Callable[..., T],
    *args: Any,
    progress: Progress | None = None,
    should_abort: ShouldAbort | None = None,
    niceness: int = NICENESS,
) -> T:
    """fn(*args, progress=..., should_abort=None) computed in a niced, one-BLAS-thread child.

    Blocks the calling thread (waiting on a pipe, without the GIL) until the result arrives;
    `progress` is called in this thread with the child's fractions; when `should_abort` returns
    True the child is killed and ProbeCancelled raised. An exception in the child is raised
    here as it was raised there.
    """
    env = {**os.environ, **dict.fromkeys(BLAS_ENV, "1")}
    child = subprocess.Popen(
        [sys.executable, "-m", "rnn_tui.engine.offload"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # never onto a terminal a dashboard draws on
        env=env,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        try:
            _write_frame(child.stdin, (list(sys.path), niceness))
            _write_frame(child.stdin, (fn, args))
            child.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once: reading below says how
        for kind, value in _frames(child.stdout, should_abort):
            if kind == "progress":
                if progress is not None:
                    progress(value)
            elif kind == "error":
                raise value
            else:
                return value
        code = child.wait(5.0)
        raise BackgroundProcessError(
            f"the background computation ended without a result (exit code {code})"
        )
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def _write_frame(stream: BinaryIO, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _frames(stream: BinaryIO, should_abort: ShouldAbort | None):
    """(kind, value) frames from the child until EOF, polling `should_abort` between reads."""
    fd = stream.fileno()
    buffer = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if should_abort is not None and should_abort():
                raise ProbeCancelled
            if not selector.select(POLL_SECONDS):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer)
                if len(buffer) < _LENGTH.size + length:
                    break
                frame = bytes(buffer[_LENGTH.size : _LENGTH.size + length])
                del buffer[: _LENGTH.size + length]
                yield pickle.loads(frame)


def _read_frame(stream: BinaryIO) -> Any:
    (length,) = _LENGTH.unpack(stream.read(_LENGTH.size))
    return pickle.loads(stream.read(length))


def _child_main() -> None:
    """The child: lower its priority, run what the parent sent, send progress and the result."""
    out = os.fdopen(os.dup(1), "wb")  # the frames' own descriptor; print() goes nowhere
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    path, niceness = _read_frame(sys.stdin.buffer)
    sys.path[:] = path  # where the parent found the function's module
    if niceness:
        os.nice(niceness)
    fn, args = _read_frame(sys.stdin.buffer)
    shown = [-1.0]

    def report(fraction: float) -> None:
        if fraction - shown[0] >= PROGRESS_STEP or fraction >= 1.0:
            shown[0] = fraction
            _write_frame(out, ("progress", fraction))

    try:
        result = fn(*args, progress=report, should_abort=None)
    except Exception as exc:  # sent to the parent, which raises it
        _write_frame(out, ("error", exc))
    else:
        _write_frame(out, ("done", result))
    out.close()


if __name__ == "__main__":
    _child_main()
