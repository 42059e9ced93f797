"""retain_freed_memory: a step's big temporaries are reused without page faults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Six 8 MB arrays made, written and freed per round, like a step's activations and gradients:
# more than glibc's default trim threshold, so by default the freed heap top goes back to the kernel.
CHILD = """
import json, resource, sys
import numpy as np
from rnn_tui.engine.allocator import retain_freed_memory
retained = retain_freed_memory() if {retain} else None
def round_():
    arrays = [np.empty(2**20) for _ in range(6)]
    for a in arrays:
        a.fill(1.0)
for _ in range(3):
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({{"retained": retained, "faults_per_round": faults / 10}}))
"""


def _run(retain: bool) -> dict:
    code = CHILD.format(repo=str(REPO), retain=retain)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_step_memory_is_reused_without_page_faults():
    default = _run(retain=False)
    if default["faults_per_round"] < 1000:
        pytest.skip("this C library already keeps the memory: nothing to measure")
    tuned = _run(retain=True)
    assert tuned["retained"] is True
    # 48 MB per round is ~12,000 pages; reused memory faults (almost) never
    assert tuned["faults_per_round"] < 100, (default, tuned)
