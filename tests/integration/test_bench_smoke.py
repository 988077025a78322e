"""bench/bringup.py end to end on a small lab, without Mininet: it runs, cleans up, and prints its table."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.conftest import REPO


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark builds real namespaces: needs root")
def test_bench_smoke():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "bringup.py"), "--nodes", "30", "--skip-mininet",
                           "--no-save"], capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Bring-up and teardown of 29 nodes" in done.stdout, out
    for row in ("labctl", "floor (ip -batch)", "Mininet 2.3: skipped (--skip-mininet)", "labctl bring-up / floor"):
        assert row in done.stdout, f"no '{row}' in the output:\n{out}"
