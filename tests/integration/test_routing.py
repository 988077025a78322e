"""The routing assertions and the looking glass on a real lab (topologies/routing.yml): r1 (AS 65001) -- r2
(AS 65002, h2 serving the ROAs) -- r3, r4 (AS 65003, OSPF on their LAN), where r4 originates 10.4.0.0/16
(RPKI-valid) and 10.66.0.0/16 (RPKI-invalid). Each assertion holds and fails with the observed text a student
reads; the BGP sessions between r2 and r3 are shut down last, and brought back."""
from __future__ import annotations

import json

import pytest

from labctl.runtime.state import load
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.timing import check_until
from tests.integration.conftest import REPO, labctl

LAB = "rt-routing"
CONVERGED = 40.0                 # OSPF on a LAN waits out its dead interval, iBGP then retries its connection


@pytest.fixture(scope="module")
def lab():
    labctl("up", str(REPO / "tests" / "integration" / "topologies" / "routing.yml"), "--name", LAB, "-q", check=True)
    try:
        ctx = Context(LAB, load(LAB)[1])
        for router in ("r1", "r2", "r3", "r4"):      # every session up
            seen = until(ctx, "bgp_session", CONVERGED, node=router)
            assert seen.ok, seen.observed
        for router in ("r1", "r4"):                 # RPKI in sync: r4 reaches h2 once BGP and OSPF have converged
            seen = until(ctx, "bgp_route", CONVERGED, node=router, prefix="10.66.0.0/16", rpki="invalid")
            assert seen.ok, seen.observed
        # labctl exec puts its commands in the node's exec scope, which stays until `labctl down`: made now, no
        # test sees it appear
        labctl("exec", LAB, "r3", "--", "true", check=True)
        yield ctx
    finally:
        labctl("down", LAB, check=True)


def check(ctx: Context, name: str, **keys) -> Observation:
    return ASSERTIONS[name].model_validate(keys).check(ctx)


def until(ctx: Context, name: str, within: float, **keys) -> Observation:
    return check_until(ctx, ASSERTIONS[name].model_validate(keys), within, None)[0]


def vtysh(node: str, *commands: str) -> None:
    labctl("exec", LAB, node, "--", "vtysh", *[part for c in commands for part in ("-c", c)], check=True)


def test_bgp_route(lab):
    seen = check(lab, "bgp_route", node="r1", prefix="10.66.0.0/16", origin=65003, next_hop="r2", rpki="invalid")
    assert seen.ok, seen.observed
    assert seen.observed == "best path: 65002 65003 (origin AS 65003, next hop r2), RPKI invalid"
    wrong = check(lab, "bgp_route", node="r1", prefix="10.66.0.0/16", origin=65001)
    assert not wrong.ok and wrong.observed == seen.observed
    ibgp = check(lab, "bgp_route", node="r3", prefix="10.66.0.0/16", as_path=[], next_hop="r4")
    assert ibgp.ok and ibgp.observed == "best path: empty AS path (origin AS 65003, next hop r4), RPKI invalid"
    assert check(lab, "bgp_route", node="r2", prefix="fd00:77:0:1::/64", as_path=[65003], next_hop="r3").ok
    assert check(lab, "bgp_route", node="r1", prefix="10.99.0.0/16", absent=True).ok
    present = check(lab, "bgp_route", node="r4", prefix="10.66.0.0/16", absent=True)
    assert not present.ok and present.observed == "best path: originated here (AS 65003), RPKI invalid"


def test_ospf_neighbor(lab):
    seen = until(lab, "ospf_neighbor", 10, node="r3")
    assert seen.ok and seen.observed in ("r4 Full/DR on eth1", "r4 Full/Backup on eth1"), seen.observed
    assert until(lab, "ospf_neighbor", 10, node="r4", family=6, neighbors=["r3"]).ok
    down = check(lab, "ospf_neighbor", node="r4", state="down")
    assert not down.ok and down.observed.startswith("r3 Full/")


def test_route(lab):
    bgp = check(lab, "route", node="r1", dst="10.66.0.0/16", via="r2", protocol="bgp")
    assert bgp.ok and bgp.observed == "10.66.0.0/16 via r2 (10.255.0.3) dev eth1 proto bgp metric 20"
    ospf6 = check(lab, "route", node="r3", dst="fd00:77::4/128", via="r4", protocol="ospf")     # a link-local next hop
    assert ospf6.ok and ospf6.observed.startswith("fd00:77::4 via r4 (fe80::"), ospf6.observed
    wrong = check(lab, "route", node="h1", dst="default", via="h2")
    assert not wrong.ok and wrong.observed == "default via r1 (10.255.0.1) dev eth0 proto static metric 20"
    assert check(lab, "route", node="h1", dst="10.66.0.0/16", absent=True).ok


def test_looking_glass(lab):
    overview = labctl("bgp", LAB, check=True).stdout
    assert "10.66.0.0/16" in overview and "fd00:77:0:1::/64" in overview
    one = json.loads(labctl("bgp", LAB, "10.66.0.0/16", "--json", check=True).stdout)
    assert {r: [(p["origin"], p["next_hop_node"], p["rpki"]) for p in view["paths"]] for r, view in one.items()} == {
        "r1": [(65003, "r2", "invalid")], "r2": [(65003, "r3", "invalid")], "r3": [(65003, "r4", "invalid")],
        "r4": [(65003, None, "invalid")]}
    table = labctl("bgp", LAB, "10.4.0.0/16", check=True).stdout
    assert "65002 65003" in table and "valid" in table
    unknown = labctl("bgp", "rt-nolab")
    assert unknown.returncode == 2 and "no lab named 'rt-nolab' is up" in unknown.stderr


def test_bgp_session_shut_down_and_back(lab):
    shutdown = ["configure terminal", "router bgp 65003", "neighbor 10.255.0.6 shutdown",
                "neighbor fd00:77:0:5:: shutdown"]
    vtysh("r3", *shutdown)
    try:
        seen = check(lab, "bgp_session", node="r3", neighbors=["r2"])
        assert not seen.ok and seen.observed == "r2 (10.255.0.6) Idle (Admin), r2 (fd00:77:0:5::) Idle (Admin)"
        assert check(lab, "bgp_session", node="r3", neighbors=["r2"], state="down").ok
        assert until(lab, "bgp_session", 5, node="r2", neighbors=["r3"], state="down").ok
        gone = until(lab, "bgp_route", 5, node="r1", prefix="10.66.0.0/16", absent=True)
        assert gone.ok and gone.observed == "no BGP route to 10.66.0.0/16"
    finally:
        vtysh("r3", *[line.replace("neighbor", "no neighbor") for line in shutdown])
    back = until(lab, "bgp_session", 15, node="r3", neighbors=["r2"])
    assert back.ok, back.observed
    assert until(lab, "bgp_route", 5, node="r1", prefix="10.66.0.0/16", origin=65003).ok



def test_frr_stops_and_starts_as_a_service(tmp_path):
    """On a lab of its own: a restarted FRR has new processes, which the module's lab must not show."""
    from labctl.runtime import lab as runtime
    from labctl.runtime.backend import KernelBackend
    from labctl.runtime.services import group, status
    topology = tmp_path / "pair.yml"
    topology.write_text("name: rt-frr\nrouting: {bgp: {keepalive: 1s, hold: 3s}}\n"
                        "nodes: {r1: {kind: router, asn: 65001}, r2: {kind: router, asn: 65002}}\nlinks: [[r1, r2]]\n")
    labctl("up", str(topology), "-q", check=True)
    try:
        ctx = Context("rt-frr", load("rt-frr")[1])
        assert until(ctx, "bgp_session", 20, node="r2").ok
        runtime.service_stop("rt-frr", "r1", "frr")     # frrinit.sh stop: each daemon ends, its neighbours are told
        assert not KernelBackend().group_pids(group("rt-frr", "r1", "frr"))
        assert until(ctx, "bgp_session", 5, node="r2", state="down").ok
        stopped = next(s for s in status(KernelBackend(), "rt-frr", ctx.plan, load("rt-frr")[0]) if s.node == "r1")
        assert stopped.state == "stopped"
        runtime.service_start("rt-frr", "r1", "frr")
        back = until(ctx, "bgp_session", 15, node="r2")
        assert back.ok, back.observed
    finally:
        labctl("down", "rt-frr", check=True)
