"""The benchmarks end to end, small: bench/bringup.py on a small lab without Mininet, bench/emulator.py --quick and
bench/routing.py --quick. Each runs, cleans up, and prints its tables."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.integration.conftest import REPO

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark builds real namespaces: needs root")


def run_bench(script: str, *args: str, timeout: float, rows: tuple[str, ...]) -> None:
    """bench/<script> with `args` ends well and prints each of `rows`."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], capture_output=True, text=True,
                          timeout=timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    for row in rows:
        assert row in done.stdout, f"no '{row}' in the output:\n{out}"


@pytest.mark.root
@needs_root
def test_bench_smoke():
    run_bench("bringup.py", "--nodes", "30", "--skip-mininet", "--no-save", timeout=300,
              rows=("Bring-up and teardown of 29 nodes", "labctl", "floor (ip -batch)",
                    "Mininet 2.3: skipped (--skip-mininet)", "labctl bring-up / floor"))


@pytest.mark.root
@needs_root
@pytest.mark.skipif(not shutil.which("iperf3"), reason="the benchmark's flows are iperf3's")
def test_bench_emulator_smoke():
    """One offered rate, 1 s flows, the emulator's accuracy only: about 20 s."""
    run_bench("emulator.py", "--quick", "--no-save", timeout=120,
              rows=("Link emulator throughput ceiling", "UDP 100 Mbit/s", "TCP (unlimited)", "Accuracy per back end",
                    "TCP goodput, rate 10mbit", "TCP on the wire", "RTT at saturation, queue 100",
                    "RTT median, delay 10ms", "RTT p99, delay 10ms", "kernel, rate: skipped (--quick)",
                    "emulator: highest offered UDP rate with < 1 % loss",
                    "emulator: delay (idle RTT median) vs 20 ms"))


@pytest.mark.root
@needs_root
@pytest.mark.skipif(not shutil.which("vtysh"), reason="the benchmark's routers run FRR")
def test_bench_routing_smoke():
    """A 6-AS Internet, the outage after a silent failure with BFD once, one mini-Internet: about 45 s."""
    run_bench("routing.py", "--quick", "--no-save", timeout=150,
              rows=("BGP convergence of a generated 6-AS Internet", "every router has a best path to every prefix",
                    "then vtysh on each router: 6/6 agreed", "FRR memory per router after convergence (6 routers)",
                    "zebra + bgpd", "BFD, silent failure", "skipped: the outage with protocol timers only (--quick)",
                    "skipped: the outage after a link down (--quick)", "Copies of mini-internet.yaml side by side (1,",
                    "stopped: --max-copies 1"))
