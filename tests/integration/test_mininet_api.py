"""labctl.attach: a running lab driven through Mininet's API and CLI, leaving no process behind."""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
from contextlib import contextmanager
from typing import Iterator

import pytest
from mininet.cli import CLI
from mininet.log import lg

import labctl
from labctl.errors import LabError
from labctl.kernel import netns, processes
from labctl.paths import netns_name
from labctl.runtime import lab
from labctl.runtime.mininet_net import LabNet
from labctl.topology import Plan, compile_plan, load_topology
from labctl.topology.mininet_topo import topology_from_mininet
from tests.integration.conftest import REPO

RATE = r"[\d.]+ [KMG]?bits/sec"


@contextmanager
def attached(plan: Plan) -> Iterator[LabNet]:
    """Bring the plan up and attach; afterwards stop the net, check that it left no process in the lab besides
    the lab's services (its shells and iperf servers included), and take the lab down whatever happened."""
    lab.up(plan)
    try:
        inodes = {netns.inode(netns_name(plan.name, node)) for node in plan.nodes}
        services = set(processes.in_namespaces(inodes))          # the lab's own (nginx on h3 and h4)
        net = labctl.attach(plan.name)
        try:
            yield net
        finally:
            shells = [node.pid for node in net.values() if node.shell]
            net.stop()
        assert not [pid for pid in shells if os.path.exists(f"/proc/{pid}")], "shells still running"
        assert set(processes.in_namespaces(inodes)) == services, "processes left in the lab"
    finally:
        lab.down(plan.name)


@pytest.fixture
def demo_net() -> Iterator[LabNet]:
    with attached(compile_plan(*load_topology(REPO / "topologies" / "demo.yml"), name="t-mnapi")) as net:
        yield net


@contextmanager
def mininet_output() -> Iterator[io.StringIO]:
    """What Mininet prints (pingall results, CLI output) while the block runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.terminator = ""
    lg.addHandler(handler)
    try:
        yield stream
    finally:
        lg.removeHandler(handler)


def reaches(node, target: str, wait: int = 3) -> bool:
    """A ping answered within `wait` s (a link just brought up takes up to a second to carry traffic)."""
    return " 0% packet loss" in node.cmd(f"ping -c1 -w{wait} {target}")


def test_commands_and_pings(demo_net: LabNet) -> None:
    assert all(node.shell is None for node in demo_net.values())     # attaching starts no process
    h1 = demo_net.get("h1")
    assert "1 received" in h1.cmd("ping -c1 -W2 h4")                # the lab's names resolve in the shell
    assert h1.IP() == "10.0.0.2" and h1.MAC() == h1.cmd("cat /sys/class/net/eth0/address").strip()
    assert [node.shell is None for node in demo_net.values()].count(False) == 1
    assert demo_net.pingAll() == 0.0
    assert all(received == 1 for _, _, (_, received, *_) in demo_net.pingFull())
    assert len(demo_net.hosts) == 6 and [s.name for s in demo_net.switches] == ["s1", "s2"]
    with pytest.raises(LabError, match="come from its topology"):
        demo_net.addHost("h9")


def test_link_down_and_up(demo_net: LabNet) -> None:
    h1 = demo_net.get("h1")
    demo_net.configLinkStatus("r1", "r2", "down")
    assert not reaches(h1, "h4", wait=1)
    demo_net.configLinkStatus("r1", "r2", "up")                      # brings back the routers' static routes
    assert reaches(h1, "h4")
    demo_net.configLinkStatus("h1", "s1", "down")                    # a link to a switch
    assert not reaches(h1, "h2", wait=1)
    demo_net.configLinkStatus("h1", "s1", "up")
    assert reaches(h1, "h4")


def test_iperf(demo_net: LabNet) -> None:
    server_rate, client_rate = demo_net.iperf((demo_net.get("h1"), demo_net.get("h4")), seconds=1)
    assert re.fullmatch(RATE, server_rate) and re.fullmatch(RATE, client_rate)


def test_stop_leaves_the_lab_running(demo_net: LabNet) -> None:
    demo_net.get("h1").cmd("true")
    demo_net.stop()
    assert subprocess.run(["ip", "netns", "exec", "t-mnapi.h1", "ping", "-c1", "-W2", "h4"],
                          capture_output=True).returncode == 0


def test_mininet_cli_script(demo_net: LabNet, tmp_path) -> None:
    script = tmp_path / "commands"
    script.write_text("\n".join([
        "nodes", "net", "dump", "h1 ifconfig", "pingall",
        "link r1 r2 down", "h1 ping -c1 -W1 h4", "link r1 r2 up", "h1 ping -c1 -w3 h4",
        "switch s1 stop", "h1 ping -c1 -W1 h2", "switch s1 start", "h1 ping -c1 -w3 h2",
        "link h1 h9 down", "iperf h1 h4", "wait", "dpctl show",
    ]) + "\n")
    reader, writer = os.pipe()      # a stdin never readable: the CLI forwards keystrokes to a running command
    with mininet_output() as printed, os.fdopen(reader) as stdin, os.fdopen(writer, "w"):
        CLI(demo_net, script=str(script), stdin=stdin)
    text = printed.getvalue()
    assert "available nodes are: \nh1 h2 h3 h4 r1 r2 s1 s2\n" in text
    assert "<router r1: eth0:10.0.0.1,eth1:10.255.0.0 ns=t-mnapi.r1" in text
    assert "inet 10.0.0.2" in text
    assert "*** Results: 0% dropped (30/30 received)" in text
    assert text.count("1 packets transmitted, 0 received") == 2 and text.count(" 0% packet loss") == 2
    assert "no link between 'h1' and 'h9'" in text
    assert re.search(rf"\*\*\* Results: \['{RATE}', '{RATE}'\]", text)
    assert "s1 is a Linux bridge, not an OpenFlow switch" in text


def test_mininet_tree_topology() -> None:
    plan = compile_plan(topology_from_mininet("tree,depth=2,fanout=2"), name="t-mntree")
    with attached(plan) as net:
        assert [h.name for h in net.hosts] == ["h1", "h2", "h3", "h4"] and len(net.switches) == 3
        assert net.get("h1").intfNames() == ["h1-eth0"]
        assert net.pingAll() == 0.0
