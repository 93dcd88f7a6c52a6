"""The embedded engine's native memory stays flat over many evaluations in a process laid out
as the gateway's is (gateway first, then whatever imports greenlet: structlog does when it is
installed). Loaded after greenlet, rego-cpp leaked ~250 KB per evaluation (gateway/__init__.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

_PROGRAM = """
import gateway  # first, as every gateway process starts
import greenlet, structlog, gc
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import sample_policy_input

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

engine = EmbeddedEngine(load_policy_set(bundled_policy_dir()))
policy_input = sample_policy_input()
for _ in range(100):
    engine.evaluate(policy_input)
gc.collect()
before = rss()
for _ in range(1000):
    engine.evaluate(policy_input)
gc.collect()
print(rss() - before)
"""


def test_a_thousand_evaluations_do_not_grow_the_process() -> None:
    pytest.importorskip("greenlet", reason="the leak needs greenlet loaded (Playwright's)")
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True
    )
    grown_mib = int(out.stdout.strip().splitlines()[-1])
    # Leaking, 1,000 evaluations grew the process by ~250 MiB; flat, by a few MiB at most.
    assert grown_mib < 30, grown_mib
