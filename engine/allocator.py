"""Keep memory that a training step frees mapped, so the next step reuses it without page faults.

Every step allocates and frees the same few-megabyte arrays (gate activations, their gradients,
logits). By default glibc maps blocks that large afresh and hands the freed top of the heap back
to the kernel, so each step zero-fills the same memory again through thousands of page faults:
about 2,000-3,000 per step of the `lstm` preset here, up to ~15% of its step time
(bench/bench_floor.py). Raising glibc's mmap and trim thresholds keeps that memory in the
process. Training's peak RSS is unchanged; RSS just no longer shrinks between steps. Blocks above
the mmap threshold (a 100 MB corpus) are still returned; freed smaller ones are not, which added
~25 MB to the peak of encoding a 100 MB text (docs/presets.md).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 512 * 2**20


def retain_freed_memory() -> bool:
    """Tune glibc's allocator for repeated large temporaries; False where that is not possible.

    Process-wide, so the application calls it once (the CLI and the benchmarks), not the engine.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols, or not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either value switches off glibc's own adjustment
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
