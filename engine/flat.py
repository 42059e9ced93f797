"""Named arrays that are views into one flat buffer, so whole-model updates are single NumPy calls.

Clipping, the gradient norm and optimiser updates touch every parameter every step; on one flat
buffer that is a handful of ufunc calls instead of a handful per parameter, which matters for
small models where call overhead dominates (the classic model has five small matrices).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def flat_views(
    shapes: dict[str, tuple[int, ...]], dtype: np.dtype | str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A zeroed flat buffer and name -> view of it, laid out in `shapes` order."""
    total = sum(int(np.prod(s)) for s in shapes.values())
    buffer = np.zeros(total, dtype=dtype)
    views, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = buffer[offset : offset + size].reshape(shape)
        offset += size
    return buffer, views


def as_flat(arrays: Iterable[np.ndarray]) -> np.ndarray | None:
    """The flat buffer that `arrays` exactly tile, in order; None if they are not such views."""
    arrays = list(arrays)
    if not arrays:
        return None
    first = arrays[0]
    base = first.base if first.base is not None else first
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = base.__array_interface__["data"][0]
    expected = address
    for a in arrays:
        if (
            a.dtype != base.dtype
            or not a.flags.c_contiguous
            or a.__array_interface__["data"][0] != expected
        ):
            return None
        expected += a.nbytes
    return base if expected - address == base.nbytes else None
