"""Loading scenario files: each step becomes its model with values in canonical units (seconds, percent, Mbit/s),
the short and long forms of wait, exec capture and ${variables}, the titles reports show, and the bundled
scenarios."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labctl.scenario.assertions.command import Command
from labctl.scenario.assertions.outage import Outage
from labctl.scenario.assertions.path import Path as PathAssertion
from labctl.scenario.assertions.reach import NoReach, Reach
from labctl.scenario.assertions.rtt import Rtt
from labctl.scenario.assertions.tcp import Tcp
from labctl.scenario.assertions.throughput import Throughput
from labctl.scenario.faults.links import Impair, LinkDown, LinkUp
from labctl.scenario.faults.nodes import Kill, NodeStart, NodeStop
from labctl.scenario.load import load_scenario
from labctl.scenario.runner import substitute
from labctl.scenario.steps.config import ConfigStep
from labctl.scenario.steps.exec import ExecStep
from labctl.scenario.steps.traffic import TrafficStep
from labctl.scenario.steps.wait import WaitStep
from labctl.scenario.suite import scenario_files

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "topologies" / "demo.yml"

EVERY_KIND = f"""
name: every-kind
description: one step of each kind
topology: {DEMO}
setup:
  - config: r1
    cmd: [sysctl -w net.ipv4.ip_forward=1, ip route]
steps:
  - assert: reach
    from: h1
    to: h4
    within: 500ms
    for: 3s
    max_loss: 10%
    points: 2
    hint: look at r1
  - assert: no_reach
    from: h1
    to: 10.0.1.3
    min_loss: 50
  - assert: path
    from: h1
    to: h4
    via: [r1, r2]
    avoid: [s2]
  - assert: rtt
    from: h1
    to: h4
    p95: 20ms
    max: 100ms
  - assert: throughput
    from: h1
    to: h4
    min: 500kbit
    max: 100mbit
    duration: 2s
  - assert: tcp
    from: h2
    to: h4
    port: 8080
    expect: refused
  - assert: command
    node: r1
    cmd: ip route
    contains: via
  - traffic: start
    id: probe
    type: ping
    from: h1
    to: h4
    interval: 50ms
  - traffic: start
    id: bulk
    type: iperf3
    from: h1
    to: h4
    protocol: udp
    bandwidth: 20mbit
    duration: 1m
  - fault: link_down
    link: [r1, r2]
  - fault: impair
    link: [r1, r2]
    rate: 10mbit
    delay: 5ms
    loss: 1%
  - fault: node_stop
    node: r2
  - fault: node_start
    node: r2
  - fault: kill
    node: h4
    process: iperf3
    signal: sigkill
  - fault: link_up
    link: [r1, r2]
  - wait: 2s
  - wait:
      until: {{assert: reach, from: h1, to: h4}}
      timeout: 20s
  - traffic: stop
    id: probe
  - assert: outage
    stream: probe
    max: 2s
  - exec: r1
    cmd: ip -4 -o addr show eth1
    capture: wan
teardown:
  - exec: h1
    cmd: echo done
"""


def load_text(tmp_path: Path, text: str):
    path = tmp_path / "scenario.yml"
    path.write_text(text)
    return load_scenario(path)


def load_steps(tmp_path: Path, steps: list[dict]):
    """The steps of a scenario on the demo topology, as loaded."""
    return load_text(tmp_path, yaml.safe_dump({"name": "t", "topology": str(DEMO), "steps": steps})).phases["steps"]


def test_every_kind_loads_into_its_model(tmp_path):
    loaded = load_text(tmp_path, EVERY_KIND)
    assert loaded.scenario.name == "every-kind" and loaded.scenario.description == "one step of each kind"
    assert loaded.topology == DEMO and loaded.plan is not None and loaded.plan.name == "demo"
    assert [type(s) for s in loaded.phases["setup"]] == [ConfigStep]
    assert [type(s) for s in loaded.phases["steps"]] == [
        Reach, NoReach, PathAssertion, Rtt, Throughput, Tcp, Command, TrafficStep, TrafficStep, LinkDown, Impair,
        NodeStop, NodeStart, Kill, LinkUp, WaitStep, WaitStep, TrafficStep, Outage, ExecStep]
    assert [type(s) for s in loaded.phases["teardown"]] == [ExecStep]


def test_values_are_parsed_into_canonical_units(tmp_path):
    setup, = load_text(tmp_path, EVERY_KIND).phases["setup"]
    (reach, no_reach, path, rtt, throughput, tcp, command, ping, iperf, link_down, impair, node_stop, node_start,
     kill, link_up, wait, wait_until, stop, outage, exec_step) = load_text(tmp_path, EVERY_KIND).phases["steps"]
    assert setup.node == "r1" and setup.cmd == ["sysctl -w net.ipv4.ip_forward=1", "ip route"]
    # the keys every assertion has: durations in seconds, points as numbers
    assert (reach.within, reach.hold, reach.max_loss, reach.points, reach.hint) == (0.5, 3.0, 10.0, 2.0, "look at r1")
    assert (reach.src, reach.dst, reach.count, reach.family) == ("h1", "h4", 3, 4)
    assert (no_reach.within, no_reach.hold, no_reach.points, no_reach.min_loss) == (5.0, None, None, 50.0)
    assert (path.via, path.avoid, path.max_hops) == (["r1", "r2"], ["s2"], 16)
    assert (rtt.p95.max, rtt.max_rtt.max, rtt.p50, rtt.count, rtt.interval) == (0.02, 0.1, None, 20, 0.1)
    assert rtt.limits() == {"p95": (None, 20.0), "max": (None, 100.0)}   # ms, as reports show them
    assert (throughput.min_rate, throughput.max_rate, throughput.duration) == (500_000, 10**8, 2.0)   # bit/s, s
    assert (throughput.protocol, throughput.port) == ("tcp", 5201)
    assert (tcp.port, tcp.expect, tcp.timeout) == (8080, "refused", 2.0)
    assert (command.node, command.cmd, command.contains, command.exit) == ("r1", "ip route", "via", 0)
    assert (ping.action, ping.id, ping.type, ping.src, ping.dst, ping.interval) == (
        "start", "probe", "ping", "h1", "h4", 0.05)
    assert (iperf.protocol, iperf.bandwidth, iperf.duration, iperf.port) == ("udp", 20_000_000, 60.0, None)
    assert link_down.link == link_up.link == ["r1", "r2"]
    assert (impair.rate, impair.delay, impair.loss, impair.queue) == (10_000_000, 0.005, 1.0, None)  # bit/s, s, %
    assert node_stop.node == node_start.node == "r2"
    assert (kill.node, kill.process, kill.signal) == ("h4", "iperf3", "KILL")
    assert (stop.action, stop.id, stop.type) == ("stop", "probe", None)
    assert (outage.stream, outage.max_gap, outage.min_gap) == ("probe", 2.0, None)
    assert (exec_step.node, exec_step.cmd, exec_step.capture, exec_step.timeout) == (
        "r1", "ip -4 -o addr show eth1", "wan", 30.0)
    assert (wait.seconds, wait.until) == (2.0, None)
    assert isinstance(wait_until.until, Reach) and wait_until.timeout == 20.0 and wait_until.seconds is None


@pytest.mark.parametrize("written, seconds", [("2s", 2.0), ("1.5s", 1.5), ("500ms", 0.5), ("250us", 0.00025),
                                              ("1m", 60.0), ("0s", 0.0)])
def test_wait_short_form_is_a_duration(tmp_path, written, seconds):
    wait, = load_steps(tmp_path, [{"wait": written}])
    assert isinstance(wait, WaitStep) and wait.seconds == seconds and wait.until is None


def test_wait_until_takes_an_assertion_and_a_timeout(tmp_path):
    custom, default = load_steps(tmp_path, [
        {"wait": {"until": {"assert": "path", "from": "h1", "to": "h4", "via": ["r2"]}, "timeout": "45s"},
         "name": "routes converged"},
        {"wait": {"until": {"assert": "no_reach", "from": "h1", "to": "h3"}}}])
    assert isinstance(custom.until, PathAssertion) and custom.until.via == ["r2"]
    assert custom.timeout == 45.0 and custom.name == "routes converged"
    assert isinstance(default.until, NoReach) and default.timeout == 30.0


def test_exec_capture_feeds_variables_in_later_steps(tmp_path):
    capture, check, wait = load_steps(tmp_path, [
        {"exec": "r1", "cmd": "ip -4 -o addr show eth1", "capture": "wan"},
        {"assert": "reach", "from": "r2", "to": "${wan}"},       # a ${variable} is no node: not checked at load
        {"wait": {"until": {"assert": "command", "node": "r2", "cmd": "ping -c1 ${wan}"}}}])
    assert capture.capture == "wan"
    assert [name for _, name in check.node_refs()] == ["r2"]
    variables = {"wan": "10.255.0.0"}
    assert substitute(check, variables).dst == "10.255.0.0"
    assert substitute(wait, variables).until.cmd == "ping -c1 10.255.0.0"
    assert substitute(check, {}).dst == "${wan}"                # unknown variables stay as written
    assert check.dst == "${wan}"                                # the loaded step is not changed


@pytest.mark.parametrize("step, title", [
    ({"assert": "reach", "from": "h1", "to": "h4", "within": "10s", "points": 2, "hint": "x"}, "reach h1 -> h4"),
    ({"assert": "reach", "from": "h1", "to": "h4", "max_loss": "20%", "family": 6},
     "reach h1 -> h4 (IPv6), at most 20% loss"),
    ({"assert": "no_reach", "from": "h1", "to": "10.0.1.3"}, "no_reach h1 -> 10.0.1.3"),
    ({"assert": "no_reach", "from": "h1", "to": "h3", "min_loss": 50}, "no_reach h1 -> h3, at least 50% loss"),
    ({"assert": "path", "from": "h1", "to": "h4", "via": ["r1", "r2"], "avoid": ["s2"]},
     "path h1 -> h4 via r1, r2 avoiding s2"),
    ({"assert": "rtt", "from": "h1", "to": "h4", "p95": "20ms", "max": "1s"},
     "rtt h1 -> h4: p95 at most 20 ms, max at most 1000 ms"),
    ({"assert": "rtt", "from": "h1", "to": "h4"}, "rtt h1 -> h4"),
    ({"assert": "throughput", "from": "h1", "to": "h4", "min": "60mbit", "max": "110mbit"},
     "throughput h1 -> h4: at least 60 and at most 110 Mbit/s"),
    ({"assert": "throughput", "from": "h1", "to": "h4", "protocol": "udp", "min": "500kbit"},
     "throughput h1 -> h4 UDP: at least 0.5 Mbit/s"),
    ({"assert": "tcp", "from": "h2", "to": "h4", "port": 80}, "tcp h2 -> h4 port 80 open"),
    ({"assert": "command", "node": "r1", "cmd": "ip route", "contains": "via"}, "command on r1: ip route"),
    ({"assert": "outage", "stream": "probe", "max": "2s"}, "outage of traffic probe: at most 2 s"),
    ({"assert": "outage", "stream": "probe", "min": "500ms", "max": "3s"},
     "outage of traffic probe: at least 0.5 s and at most 3 s"),
    ({"fault": "link_down", "link": ["r1", "r2"]}, "link_down r1-r2"),
    ({"fault": "link_up", "link": ["r1", "r2"]}, "link_up r1-r2"),
    ({"fault": "impair", "link": ["r1", "r2"], "rate": "10mbit", "loss": "1%"}, "impair r1-r2: 10 Mbit/s, 1% loss"),
    ({"fault": "impair", "link": ["r1", "r2"]}, "impair r1-r2: no shaping"),
    ({"fault": "node_stop", "node": "r2"}, "node_stop r2"),
    ({"fault": "node_start", "node": "r2"}, "node_start r2"),
    ({"fault": "kill", "node": "h4", "process": "iperf3"}, "kill iperf3 on h4"),
    ({"fault": "kill", "node": "h4", "process": "iperf3", "signal": "SIGKILL"}, "kill iperf3 on h4 (SIGKILL)"),
    ({"traffic": "start", "id": "probe", "type": "ping", "from": "h1", "to": "h4"},
     "traffic start probe (ping h1 -> h4)"),
    ({"traffic": "stop", "id": "probe"}, "traffic stop probe"),
    ({"wait": "1.5s"}, "wait 1.5 s"),
    ({"wait": {"until": {"assert": "reach", "from": "h1", "to": "h4"}}}, "wait until reach h1 -> h4"),
    ({"exec": "r1", "cmd": "ip route", "capture": "routes"}, "exec on r1: ip route"),
    ({"config": "r2", "cmd": ["ip route add 10.9.0.0/24 via 10.255.0.0", "ip route"]},
     "config r2: ip route add 10.9.0.0/24 via 10.255.0.0; ip route"),
    ({"assert": "reach", "from": "h1", "to": "h4", "name": "the WAN works"}, "the WAN works"),
    ({"fault": "link_down", "link": ["r1", "r2"], "name": "cut the WAN"}, "cut the WAN"),
    ({"wait": "3s", "name": "let it settle"}, "let it settle"),
])
def test_titles_read_well(tmp_path, step, title):
    loaded, = load_steps(tmp_path, [step])
    assert loaded.title() == title


BUNDLED = ["scenarios/smoke/demo-smoke.yml", "scenarios/failover/static-failover.yml",
           "scenarios/failover/ospf-bfd-vs-timers.yml", "scenarios/failover/bgp-dual-homed.yml",
           "scenarios/exercises/bgp-session.yml", "scenarios/exercises/missing-route.yml"]


def test_suites_are_the_yaml_files_with_steps(monkeypatch):
    monkeypatch.chdir(REPO)        # topology files beside the scenarios (two-paths.yml, broken-route.yml) are skipped
    assert sorted(map(str, scenario_files(["scenarios/smoke", "scenarios/failover", "scenarios/exercises"]))) == \
        sorted(BUNDLED)


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in scenario_files(
    [str(folder) for folder in (REPO / "scenarios").iterdir() if folder.is_dir()])))
def test_every_bundled_scenario_loads(monkeypatch, path):
    monkeypatch.chdir(REPO)
    assert all(step.title() for step in load_scenario(path).phases["steps"])


@pytest.mark.parametrize("path, topology, lab", [
    ("scenarios/smoke/demo-smoke.yml", "topologies/demo.yml", "demo"),
    ("scenarios/failover/static-failover.yml", "scenarios/failover/two-paths.yml", "two-paths"),
    ("scenarios/exercises/missing-route.yml", "scenarios/exercises/broken-route.yml", "broken-route")])
def test_bundled_scenarios_load_against_their_topologies(monkeypatch, path, topology, lab):
    monkeypatch.chdir(REPO)
    loaded = load_scenario(path)
    assert loaded.topology == REPO / topology and loaded.plan.name == lab
    assert loaded.phases["steps"] and all(step.title() for step in loaded.phases["steps"])
    # and against a running lab's plan, as labctl run --lab and labctl check do
    assert len(load_scenario(path, loaded.plan).phases["steps"]) == len(loaded.phases["steps"])


def test_exercise_is_graded():
    checks = load_scenario(REPO / "scenarios/exercises/missing-route.yml").phases["steps"]
    assert all(step.points and step.hint and step.name for step in checks)
    assert sum(step.points for step in checks) == 10
