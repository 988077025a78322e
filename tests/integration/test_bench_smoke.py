"""The benchmarks end to end, small: bench/bringup.py on a small lab without Mininet, and bench/emulator.py --quick.
Each runs, cleans up, and prints its tables."""
from __future__ import annotations

import os
import shutil
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


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark builds real namespaces: needs root")
@pytest.mark.skipif(not shutil.which("iperf3"), reason="the benchmark's flows are iperf3's")
def test_bench_emulator_smoke():
    """One offered rate, 1 s flows, the emulator's accuracy only: about 20 s."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "emulator.py"), "--quick", "--no-save"],
                          capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    for row in ("Link emulator throughput ceiling", "UDP 100 Mbit/s", "TCP (unlimited)", "Accuracy per back end",
                "TCP goodput, rate 10mbit", "TCP on the wire", "RTT at saturation, queue 100",
                "RTT median, delay 10ms", "RTT p99, delay 10ms", "kernel, rate: skipped (--quick)",
                "emulator: highest offered UDP rate with < 1 % loss", "emulator: delay (idle RTT median) vs 20 ms"):
        assert row in done.stdout, f"no '{row}' in the output:\n{out}"
