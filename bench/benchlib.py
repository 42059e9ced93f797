"""What the benchmarks share: where this checkout and the shared corpora are, and the plain
classic reference, which lives with the tests (tests/reference_classic.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


def reference_classic() -> ModuleType:
    """tests/reference_classic.py, the per-sample reimplementation of the video's algorithm."""
    path = REPO / "tests" / "reference_classic.py"
    spec = importlib.util.spec_from_file_location("reference_classic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
