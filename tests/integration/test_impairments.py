"""Link conditions against physics, on each back end this machine has: added RTT, TCP throughput under a rate,
loss within its binomial interval, queueing delay at a saturated bottleneck, no reordering without jitter. The
lab: h1 -- r1 == r2 -- h2, the conditions on r1 == r2. A back end that lacks what a test needs skips, saying so;
the emulator does everything here."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from labctl.impair import tc
from labctl.kernel.probe import probe
from labctl.plan import Shaping
from tests.integration.conftest import labctl

LAB = "t-imp"
BACKENDS = ["emulator", "kernel"]


@contextmanager
def dumbbell(tmp_path: Path, backend: str, **conditions) -> Iterator[str]:
    kernel_missing = tc.unsupported(_shaping(conditions), probe())
    if backend == "kernel" and kernel_missing:
        pytest.skip(f"this kernel's qdiscs cannot: {'; '.join(kernel_missing)} (the emulator's test covers it)")
    topology = {"name": LAB, "impair_backend": backend,
                "nodes": {"h1": "host", "h2": "host", "r1": "router", "r2": "router"},
                "links": [["h1", "r1"], {"endpoints": ["r1", "r2"], **conditions}, ["r2", "h2"]]}
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(topology))
    labctl("up", str(tmp_path / "lab.yml"), "-q", check=True)
    try:
        shaped_by = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["links"][1]["shaped_by"]
        assert shaped_by and all(("emulator" if backend == "emulator" else "kernel") in s for s in shaped_by)
        yield LAB
    finally:
        labctl("down", LAB, check=True)


def _shaping(conditions: dict) -> Shaping:
    from labctl.topology.shaping import LinkShaping
    return LinkShaping.model_validate({k: v for k, v in conditions.items() if k != "from"}).shaping()


def ping_rtts(node: str, target: str, count: int, interval: float = 0.02) -> list[float]:
    out = labctl("exec", LAB, node, "--", "ping", "-U", "-n", "-c", str(count), "-i",
                 f"{interval:g}", "-W", "2", target, timeout=count * interval + 30).stdout
    return [float(t) for t in re.findall(r"time=([\d.]+) ms", out)]


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def iperf(src: str, dst: str, *options: str, seconds: float = 3) -> dict:
    server = subprocess.Popen(["ip", "netns", "exec", f"{LAB}.{dst}", "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["sleep", "0.3"])
        done = labctl("exec", LAB, src, "--", "iperf3", "-c", dst, "-J", "-t", f"{seconds:g}", *options,
                      timeout=seconds + 30)
        return json.loads(done.stdout)
    finally:
        server.wait(timeout=30)


@pytest.mark.parametrize("backend", BACKENDS)
def test_added_rtt_is_the_configured_delay_with_and_without_traffic(tmp_path, backend):
    with dumbbell(tmp_path, backend, delay="10ms"):
        idle = median(ping_rtts("h1", "h2", 50))
        assert abs(idle - 20) <= max(0.05 * 20, 0.5), f"20 ms added, {idle} ms measured"
        load = subprocess.Popen(["ip", "netns", "exec", f"{LAB}.h2", "iperf3", "-s", "-1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            subprocess.run(["sleep", "0.3"])
            flood = subprocess.Popen(["ip", "netns", "exec", f"{LAB}.h1", "iperf3", "-c", "h2", "-u", "-b", "100M",
                                      "-t", "4", "-J"], stdout=subprocess.PIPE, text=True)
            subprocess.run(["sleep", "0.5"])
            loaded = median(ping_rtts("h1", "h2", 100))
            report = json.loads(flood.communicate(timeout=30)[0])
        finally:
            load.wait(timeout=30)
        received = report["end"]["sum"]
        assert received["bits_per_second"] > 90e6, f"{received['bits_per_second'] / 1e6:.1f} Mbit/s got through"
        assert abs(loaded - 20) <= max(0.05 * 20, 0.5), f"20 ms added under 100 Mbit/s, {loaded} ms measured"
        assert received.get("out_of_order", 0) == 0                # no reordering without jitter


@pytest.mark.parametrize("backend", BACKENDS)
def test_tcp_throughput_under_a_rate(tmp_path, backend):
    with dumbbell(tmp_path, backend, rate="10mbit"):
        got = iperf("h1", "h2", "-C", "cubic")["end"]["sum_received"]["bits_per_second"]
        assert abs(got - 10e6) <= 0.10 * 10e6, f"a 10 Mbit/s link carried {got / 1e6:.2f} Mbit/s"


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_is_in_the_binomial_interval(tmp_path, backend):
    with dumbbell(tmp_path, backend, **{"from": {"r1": {"loss": "10%"}}}):        # r1 -> r2 only
        sent = 2000
        replies = len(ping_rtts("h1", "h2", sent, interval=0.002))
        p, spread = 0.10, 1.96 * math.sqrt(sent * 0.10 * 0.90)
        assert sent * p - spread <= sent - replies <= sent * p + spread, f"{sent - replies} of {sent} lost"


@pytest.mark.parametrize("backend", BACKENDS)
def test_queueing_delay_at_a_saturated_bottleneck_is_buffer_over_rate(tmp_path, backend):
    with dumbbell(tmp_path, backend, rate="10mbit", queue=100):
        flood = subprocess.Popen(["ip", "netns", "exec", f"{LAB}.h2", "iperf3", "-s", "-1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            subprocess.run(["sleep", "0.3"])
            sender = subprocess.Popen(["ip", "netns", "exec", f"{LAB}.h1", "iperf3", "-c", "h2", "-u", "-b", "20M",
                                       "-t", "4"], stdout=subprocess.DEVNULL)
            subprocess.run(["sleep", "1"])
            queued = median(ping_rtts("h1", "h2", 40, interval=0.05))
            sender.wait(timeout=30)
        finally:
            flood.wait(timeout=30)
        expected = 100 * 1514 * 8 / 10e6 * 1000              # ms: 100 frames of 1514 bytes at 10 Mbit/s
        assert abs(queued - expected) <= 0.15 * expected, f"{expected:.0f} ms of queue expected, {queued} ms seen"


def test_jitter_spreads_and_may_reorder(tmp_path):
    with dumbbell(tmp_path, "emulator", delay="20ms", jitter="5ms"):
        rtts = sorted(ping_rtts("h1", "h2", 200, interval=0.01))
        # no packet may beat the shortest delay; a loaded machine may add a scheduling hiccup above the longest,
        # so the top is bounded at the 99th percentile
        assert 40 - 10.5 <= rtts[0] and rtts[int(len(rtts) * 0.99) - 1] <= 40 + 10.5 and rtts[-1] - rtts[0] > 5, \
            (rtts[0], rtts[int(len(rtts) * 0.99) - 1], rtts[-1])


def test_bursty_loss(tmp_path):
    with dumbbell(tmp_path, "emulator", **{"from": {"r1": {"loss": {"p": "2%", "r": "20%"}}}}):
        out = labctl("exec", LAB, "h1", "--", "ping", "-U", "-n", "-c", "3000", "-i", "0.002", "-W", "2", "h2",
                     timeout=60).stdout
        answered = {int(s) for s in re.findall(r"icmp_seq=(\d+) ", out)}
        lost = [seq for seq in range(1, 3001) if seq not in answered]
        bursts = sum(1 for seq in lost if seq - 1 not in lost)
        assert 0.05 < len(lost) / 3000 < 0.13, f"{len(lost)} of 3000 lost; p/(p+r) = 9%"
        assert 3 < len(lost) / bursts < 8, f"mean burst {len(lost) / bursts:.1f} packets; 1/r = 5"


def test_impair_traffic_and_status_from_the_command_line(tmp_path):
    """A user's session: conditions changed on a running lab, measured with `labctl traffic`, seen in `status`,
    the emulator's crash seen as a failed service, then cleared."""
    topology = {"name": LAB, "nodes": {"h1": "host", "h2": "host", "r1": "router", "r2": "router"},
                "links": [["h1", "r1"], ["r1", "r2"], ["r2", "h2"]]}
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(topology))
    labctl("up", str(tmp_path / "lab.yml"), "-q", check=True)
    try:
        bad = labctl("impair", LAB, "r1", "r2", "--delay", "10")
        assert bad.returncode == 2 and "--delay" in bad.stderr and "unit" in bad.stderr, bad.stderr
        stranger = labctl("impair", LAB, "r1", "h2", "--delay", "10ms")
        assert stranger.returncode == 2 and "no link between 'r1' and 'h2'" in stranger.stderr, stranger.stderr

        done = labctl("impair", LAB, "r1", "r2", "--delay", "15ms", "--from", "r1", check=True)
        backend = "kernel qdiscs" if not tc.unsupported(Shaping(delay_ms=15), probe()) else "labctl emulator"
        assert f"r1 -> r2: {backend} on" in done.stdout and "r2 -> r1: no shaping" in done.stdout, done.stdout
        labctl("traffic", LAB, "ping", "h1", "h2", "--for", "2s", "--interval", "50ms", "--json",
               str(tmp_path / "ping.json"), check=True)
        rtts = [v for _, v in json.loads((tmp_path / "ping.json").read_text())["series"]["rtt ms"]]
        assert len(rtts) >= 30 and 15 <= median(rtts) <= 17, rtts               # one way only: 15 ms added
        bulk = labctl("traffic", LAB, "iperf3", "h2", "h1", "--for", "2s", check=True)
        assert re.search(r"iperf3 TCP h2 -> h1 port \d+: [\d.]+ (G|M)bit/s on average", bulk.stdout), bulk.stdout

        link = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["links"][1]
        assert link["shaping"].startswith("r1 -> r2: 15 ms") and len(link["shaped_by"]) == 1
        seen = re.search(r"r1 -> r2: .*?(\d+) (packets in|sent)", link["counters"][0])
        assert seen and int(seen[1]) >= 40, link["counters"]        # the pings and the bulk flow's ACKs
        if backend == "labctl emulator":
            services = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["services"]
            emulator, = [s for s in services if s["name"] == "link-emulator"]
            os.kill(emulator["pid"], signal.SIGKILL)                 # the lab's own process, by its pid
            time.sleep(0.2)
            services = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["services"]
            assert [s["state"] for s in services if s["name"] == "link-emulator"] == ["failed"], services
            labctl("impair", LAB, "r1", "r2", "--delay", "15ms", "--from", "r1", check=True)    # starts a new one
            services = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["services"]
            assert [s["state"] for s in services if s["name"] == "link-emulator"] == ["running"], services
            assert 15 <= median(ping_rtts("h1", "h2", 20)) <= 17

        stranger = labctl("impair", LAB, "r1", "r2", "--from", "h1", "--rate", "5mbit")
        assert stranger.returncode == 2 and "'h1' is not an end of the link" in stranger.stderr, stranger.stderr
        labctl("impair", LAB, "r1", "r2", "--from", "r2", "--rate", "5mbit", check=True)   # r1's direction kept
        link = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["links"][1]
        assert link["shaping"] == "r1 -> r2: 15 ms; r2 -> r1: 5 Mbit/s", link
        labctl("impair", LAB, "r1", "r2", "--clear", check=True)
        link = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["links"][1]
        assert link["shaping"] == "no shaping" and link["shaped_by"] == [] and link["counters"] == []
        assert median(ping_rtts("h1", "h2", 20)) < 2
    finally:
        labctl("down", LAB, check=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_link_to_a_switch_each_direction_on_its_own(tmp_path, backend):
    """h1 -- s1 -- h2 with the h1-s1 link 10 ms one way and 5 ms the other: the switch's side holds both
    directions (as bridged packets enter and leave its port), and a round trip takes the sum."""
    if backend == "kernel" and tc.unsupported(Shaping(delay_ms=10), probe()):
        pytest.skip("this kernel has no netem (the emulator's test covers it)")
    topology = {"name": LAB, "impair_backend": backend, "nodes": {"h1": "host", "h2": "host", "s1": "switch"},
                "links": [{"endpoints": ["h1", "s1"], "delay": "10ms", "from": {"s1": {"delay": "5ms"}}},
                          ["s1", "h2"]]}
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(topology))
    labctl("up", str(tmp_path / "lab.yml"), "-q", check=True)
    try:
        link = json.loads(labctl("status", LAB, "--json", check=True).stdout)[LAB]["links"][0]
        assert link["shaping"] == "h1 -> s1: 10 ms; s1 -> h1: 5 ms", link
        if backend == "emulator":
            assert [by.split(": ", 1)[1] for by in link["shaped_by"]] == [
                "labctl emulator on s1:eth0 ingress (NFQUEUE 0)", "labctl emulator on s1:eth0 egress (NFQUEUE 1)"]
        there_and_back = median(ping_rtts("h1", "h2", 50))
        assert abs(there_and_back - 15) <= max(0.05 * 15, 0.5), f"15 ms added, {there_and_back} ms measured"
        back_and_there = median(ping_rtts("h2", "h1", 50))
        assert abs(back_and_there - 15) <= max(0.05 * 15, 0.5), f"15 ms added, {back_and_there} ms measured"
    finally:
        labctl("down", LAB, check=True)
