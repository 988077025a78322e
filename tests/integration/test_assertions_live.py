"""Every assertion and every kind of background flow on real labs: the demo (h1, h2 -- r1 == r2 -- h3, h4) and
the shaped lab (a 5 Mbit/s link from a to r)."""
from __future__ import annotations

import time

import pytest

from labctl.runtime import lab
from labctl.runtime.state import load
from labctl.scenario import traffic
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.scenario.steps.traffic import TrafficStep
from tests.integration.conftest import REPO, labctl

DEMO, SHAPED = "sa-asrt", "sa-shaped"


def bring_up(path: str, name: str):
    labctl("up", path, "--name", name, "-q", check=True)
    try:
        yield Context(name, load(name)[1])
    finally:
        labctl("down", name, check=True)


@pytest.fixture(scope="module")
def demo():
    yield from bring_up(str(REPO / "topologies" / "demo.yml"), DEMO)


@pytest.fixture(scope="module")
def shaped():
    yield from bring_up(str(REPO / "tests" / "integration" / "topologies" / "shaped.yml"), SHAPED)


def check(ctx: Context, name: str, **keys):
    return ASSERTIONS[name].model_validate(keys).check(ctx)


def traffic_step(**keys) -> TrafficStep:
    return TrafficStep.model_validate(keys)


class LinkDown:
    """The r1-r2 link down for the duration of a with block."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def __enter__(self):
        lab.set_link(self.ctx.lab, "r1", "r2", up=False)

    def __exit__(self, *exc):
        lab.set_link(self.ctx.lab, "r1", "r2", up=True)


def test_reach_no_reach_and_path(demo):
    h1_h4 = {"from": "h1", "to": "h4"}
    assert check(demo, "reach", **h1_h4).ok
    assert not check(demo, "no_reach", **h1_h4).ok
    seen = check(demo, "path", **h1_h4, via=["r1", "r2"], avoid=["h2"])
    assert seen.ok and seen.observed == "hops: r1, r2, h4"
    assert not check(demo, "path", **h1_h4, avoid=["r2"]).ok
    with LinkDown(demo):
        down = check(demo, "reach", **h1_h4)
        assert not down.ok and "Destination Net Unreachable from r1" in down.observed
        assert check(demo, "no_reach", **h1_h4).ok
    assert check(demo, "reach", **{"from": "h1", "to": "10.0.1.3"}).ok


def test_rtt(demo):
    seen = check(demo, "rtt", **{"from": "h1", "to": "h4", "count": 10, "p95": "20ms", "max": "50ms"})
    assert seen.ok, seen.observed
    assert len(seen.series["rtt ms"]) == 10 and seen.observed.endswith("10/10 replies (0% loss)")
    assert not check(demo, "rtt", **{"from": "h1", "to": "h4", "count": 5, "p50": "1us"}).ok


def test_tcp_open_refused_blocked(demo):
    """h4's web service listens on port 80."""
    assert check(demo, "tcp", **{"from": "h1", "to": "h4", "port": 80}).observed == "open (connected)"
    refused = check(demo, "tcp", **{"from": "h1", "to": "h4", "port": 8081, "expect": "refused"})
    assert refused.ok and refused.observed == "refused (reset by the host)"
    with LinkDown(demo):
        blocked = check(demo, "tcp", **{"from": "h1", "to": "h4", "port": 80, "expect": "blocked", "timeout": "1s"})
    assert blocked.ok, blocked.observed


def test_throughput_on_a_5mbit_link(shaped):
    # TCP needs its 3 s here: on this shallow-buffered link it loses its first burst and stalls for about 1 s
    seen = check(shaped, "throughput", **{"from": "a", "to": "c"}, min="3mbit", max="6mbit")
    assert seen.ok, seen.observed
    assert len(seen.series["throughput Mbit/s"]) >= 6
    assert not check(shaped, "throughput", **{"from": "a", "to": "c", "duration": "1s"}, min="10mbit").ok
    udp = check(shaped, "throughput", **{"from": "a", "to": "c", "duration": "1s"}, protocol="udp", bandwidth="3mbit",
                min="2mbit")
    assert udp.ok and "datagrams lost" in udp.observed, udp.observed


def test_ping_flow_and_outage(demo):
    traffic.start(demo, traffic_step(action="start", id="p", type="ping", **{"from": "h1", "to": "h4"}))
    try:
        time.sleep(0.5)
        with LinkDown(demo):
            time.sleep(1.0)
        time.sleep(0.5)
        assert check(demo, "outage", stream="p", min="0.5s").ok        # while it runs
        line = traffic.stop(demo, traffic_step(action="stop", id="p"))
        assert line.startswith("stopped ping h1 -> h4")
    finally:
        records = traffic.stop_all(demo)
    passed = check(demo, "outage", stream="p", max="3s")
    assert passed.ok and 0.9 < float(passed.observed.split()[2]) < 3, passed.observed
    assert not check(demo, "outage", stream="p", max="0.1s").ok
    assert records[0].series["rtt ms"] and records[0].stopped is not None
    demo.flows.clear()


def test_iperf3_and_http_flows(demo):
    traffic.start(demo, traffic_step(action="start", id="bulk", type="iperf3", bandwidth="10mbit",
                                     **{"from": "h2", "to": "h3"}))
    traffic.start(demo, traffic_step(action="start", id="web", type="http", interval="0.2s",
                                     **{"from": "h1", "to": "h4"}))
    try:
        time.sleep(1.6)
    finally:
        bulk, web = traffic.stop_all(demo)
    rates = [v for _, v in bulk.series["throughput Mbit/s"]]
    assert len(rates) >= 2 and all(5 < v < 15 for v in rates[:-1]), rates
    assert len(web.series["http ms"]) >= 5 and not web.series["http failed"], web.output
    demo.flows.clear()
