"""The labctl command end to end, on real namespaces."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from labctl.paths import STATE_DIR
from tests.integration.conftest import LABCTL, REPO, labctl

DEMO = str(REPO / "topologies" / "demo.yml")
HERE = Path(__file__).parent / "topologies"


@pytest.fixture
def demo_lab():
    labctl("up", DEMO, "--name", "t-demo", check=True)
    yield "t-demo"
    labctl("down", "t-demo", check=True)


def test_up_status_exec_down(demo_lab, tmp_path):
    status = json.loads(labctl("status", demo_lab, "--json", check=True).stdout)[demo_lab]
    assert status["status"] == "running"
    nodes = {n["name"]: n for n in status["nodes"]}
    assert set(nodes) == {"h1", "h2", "h3", "h4", "s1", "s2", "r1", "r2"}
    assert all(i["state"] == "up" for n in nodes.values() for i in n["interfaces"])
    assert nodes["h1"]["interfaces"][0]["addresses"] == ["10.0.0.2/24"]
    # names resolve inside the lab, exit codes pass through
    ping = labctl("exec", demo_lab, "h1", "--", "ping", "-c1", "-W2", "h4", check=True)
    assert "1 received" in ping.stdout
    assert labctl("exec", demo_lab, "h1", "--", "sh", "-c", "exit 7").returncode == 7
    # the node is a named namespace standard tools can use
    assert subprocess.run(["ip", "netns", "exec", f"{demo_lab}.r1", "ip", "route"], capture_output=True,
                          text=True).stdout.count("via") == 2
    svg = tmp_path / "lab.svg"
    labctl("graph", demo_lab, "-o", str(svg), check=True)
    assert "10.0.0.2/24" in svg.read_text()
    unknown = labctl("exec", demo_lab, "h9", "--", "true")
    assert unknown.returncode == 2 and "no node 'h9'" in unknown.stderr


def test_capture_to_pcap(demo_lab, tmp_path):
    pcap = tmp_path / "h1.pcap"
    capture = subprocess.Popen(LABCTL + ["capture", demo_lab, "h1:eth0", "-w", str(pcap), "-c", "4", "icmp"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while capture.poll() is None and time.monotonic() < deadline:
            labctl("exec", demo_lab, "h1", "--", "ping", "-c1", "-W1", "h3")
        assert capture.wait(timeout=10) == 0
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    read = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True)
    assert read.stdout.count("ICMP echo") == 4


def test_shaping_rate_and_loss():
    labctl("up", str(HERE / "shaped.yml"), check=True)
    try:
        server = subprocess.Popen(["ip", "netns", "exec", "shaped.a", "iperf3", "-s", "-1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        run = labctl("exec", "shaped", "c", "--", "iperf3", "-c", "a", "-t", "2", "-J", "-R")
        server.wait(timeout=10)
        mbps = json.loads(run.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
        assert 3 < mbps < 6, f"a 5 Mbit/s link carried {mbps:.1f} Mbit/s"
        ping = labctl("exec", "shaped", "c", "--", "ping", "-q", "-c", "200", "-i", "0.005", "-W", "1", "b").stdout
        loss = float(re.search(r"([\d.]+)% packet loss", ping).group(1))
        assert 15 < loss < 60, f"20% loss each way gave {loss}% round-trip loss"
    finally:
        labctl("down", "shaped", check=True)


def test_bad_topology_exit_2_nothing_created(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nnodes:\n  h1: host\nlinks:\n  - [h1, h9]\n")
    run = labctl("up", str(bad))
    assert run.returncode == 2
    assert f"{bad}:5: links.0.endpoints.1: unknown node 'h9'; nodes are: h1" in run.stderr
    assert not (STATE_DIR / "bad").exists()


def test_not_root_says_so():
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *LABCTL, "up", DEMO],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "needs root" in run.stderr and "sudo" in run.stderr


def test_concurrent_labs_same_names():
    ups = [subprocess.Popen(LABCTL + ["up", DEMO, "--name", name, "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for name in ("t-one", "t-two")]
    try:
        for p in ups:
            assert p.wait(timeout=60) == 0, p.stderr.read()
        for name in ("t-one", "t-two"):
            assert labctl("exec", name, "h1", "--", "ping", "-c1", "-W2", "h4").returncode == 0
        # same addresses, separate labs: a link down in one does not touch the other
        subprocess.run(["ip", "-n", "t-one.r1", "link", "set", "eth1", "down"], check=True)
        assert labctl("exec", "t-one", "h1", "--", "ping", "-c1", "-W1", "h4").returncode != 0
        assert labctl("exec", "t-two", "h1", "--", "ping", "-c1", "-W1", "h4").returncode == 0
    finally:
        for name in ("t-one", "t-two"):
            labctl("down", name)


def _big_topology(path: Path, hosts: int) -> Path:
    lines = ["name: big", "nodes:", "  s1: switch"] + [f"  h{i}: host" for i in range(hosts)]
    lines += ["links:"] + [f"  - [h{i}, s1]" for i in range(hosts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _start_and_wait_for_namespaces(topology: Path) -> subprocess.Popen:
    proc = subprocess.Popen(LABCTL + ["up", str(topology), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not any(n.startswith("big.") for n in os.listdir("/run/netns")) and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc


def test_ctrl_c_during_up_leaves_nothing(tmp_path):
    proc = _start_and_wait_for_namespaces(_big_topology(tmp_path / "big.yml", 300))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert not (STATE_DIR / "big").exists()


def test_dual_stack():
    labctl("up", str(HERE / "dualstack.yml"), check=True)
    try:
        for family in ("-4", "-6"):
            ping = labctl("exec", "dualstack", "h1", "--", "ping", family, "-c1", "-W2", "h2")
            assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "fd00:10:0:3::1" in labctl("exec", "dualstack", "h1", "--", "ping", "-6", "-c1", "h2").stdout
    finally:
        labctl("down", "dualstack", check=True)


def test_mininet_cli_and_shell_commands(demo_lab):
    script = "pingall\nlink r1 r2 down\nh1 ping -c1 -W1 h4\nlink r1 r2 up\nh1 ping -c1 -W2 h4\nexit\n"
    cli = labctl("cli", demo_lab, input=script, check=True)
    output = cli.stdout + cli.stderr                # Mininet logs to stderr, commands print to stdout
    assert "0% dropped (30/30 received)" in output
    pings = re.findall(r"transmitted, (\d) received", output)
    assert pings == ["0", "1"], cli.stdout          # down cuts h1 off from h4, up restores the routes
    shell = labctl("shell", demo_lab, "h2", input="echo node=$LABCTL_NODE; ip -o -4 addr show eth0\n", check=True)
    assert "node=h2" in shell.stdout and "10.0.0.3/24" in shell.stdout
