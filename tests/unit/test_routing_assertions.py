"""The routing assertions (bgp_route, bgp_session, ospf_neighbor, route) and the looking glass against a faked
routing lab (tests/integration/topologies/routing.yml: r1 AS65001 -- r2 AS65002 -- r3, r4 AS65003 on the LAN s3):
the commands answer with FRR 8.4's and iproute2's JSON captured from that lab, and both the passing and the
failing case must read well."""
from __future__ import annotations

import json
import subprocess
from ipaddress import ip_network
from pathlib import Path

import pytest
from rich.console import Console

from labctl.cli import main
from labctl.errors import LabError
from labctl.runtime import lookingglass
from labctl.runtime.lookingglass import best_path
from labctl.scenario.assertions import ASSERTIONS
from labctl.topology import compile_plan, load_topology
from tests.unit.fake_lab import REPO, FakeContext

OUTPUTS = Path(__file__).parent / "outputs"
PLAN = compile_plan(*load_topology(REPO / "tests" / "integration" / "topologies" / "routing.yml"))


def output(name: str) -> str:
    return (OUTPUTS / name).read_text()


def check(name: str, answers: dict, **keys):
    ctx = FakeContext(answers, plan=PLAN)
    return ASSERTIONS[name].model_validate(keys).check(ctx), ctx


# --- reading FRR's best path ------------------------------------------------------------------------------------

def paths(name: str) -> list[dict]:
    return json.loads(output(name))["paths"]


def test_best_path_learnt_over_ebgp_ibgp_and_originated():
    ebgp = best_path(paths("frr_bgp_route_r1_ebgp.json"), "10.66.0.0/16", 65001, PLAN.owners().get)
    assert (ebgp.as_path, ebgp.origin, ebgp.next_hop, ebgp.next_hop_node, ebgp.rpki) == \
        ([65002, 65003], 65003, "10.255.0.3", "r2", "invalid")
    assert ebgp.describe() == "65002 65003 (origin AS 65003, next hop r2), RPKI invalid"
    ibgp = best_path(paths("frr_bgp_route_r3_ibgp.json"), "10.66.0.0/16", 65003, PLAN.owners().get)
    assert ibgp.describe() == "empty AS path (origin AS 65003, next hop r4), RPKI invalid"
    local = best_path(paths("frr_bgp_route_r4_local.json"), "10.66.0.0/16", 65003, PLAN.owners().get)
    assert (local.next_hop, local.describe()) == (None, "originated here (AS 65003), RPKI invalid")


def test_best_path_over_ipv6_names_the_global_next_hop_not_the_link_local_one():
    found = best_path(paths("frr_bgp_route_r1_ipv6.json"), "fd00:77:0:1::/64", 65001, PLAN.owners().get)
    assert (found.next_hop, found.next_hop_node, found.rpki) == ("fd00:77:0:3::1", "r2", "notfound")
    assert found.describe(by_address=True) == "65002 65003 (origin AS 65003, next hop fd00:77:0:3::1), RPKI not found"


def test_best_path_without_rpki_and_without_a_best_path():
    unvalidated = paths("frr_bgp_route_r1_ebgp.json")
    del unvalidated[0]["rpkiValidationState"]            # as FRR answers until its RPKI cache is in sync
    assert best_path(unvalidated, "10.66.0.0/16", 65001, PLAN.owners().get).rpki is None
    del unvalidated[0]["bestpath"]
    assert best_path(unvalidated, "10.66.0.0/16", 65001, PLAN.owners().get) is None


# --- bgp_route ---------------------------------------------------------------------------------------------------

def vtysh(name: str):
    return {"vtysh": output(name)}


def test_bgp_route_origin_path_next_hop_and_rpki():
    seen, ctx = check("bgp_route", vtysh("frr_bgp_route_r1_ebgp.json"), node="r1", prefix="10.66.0.0/16",
                      origin=65003, as_path="65002 65003", next_hop="r2", rpki="invalid")
    assert seen.ok
    assert seen.expected == ("r1's best path to 10.66.0.0/16 has origin AS 65003, AS path 65002 65003, next hop r2, "
                             "RPKI invalid")
    assert seen.observed == "best path: 65002 65003 (origin AS 65003, next hop r2), RPKI invalid"
    assert ctx.ran == [("r1", ["vtysh", "-c", "show bgp ipv4 unicast 10.66.0.0/16 json"])]
    assert seen.evidence.startswith("$ vtysh -c 'show bgp ipv4 unicast 10.66.0.0/16 json'\n{")


def test_bgp_route_fails_on_what_differs():
    seen, _ = check("bgp_route", vtysh("frr_bgp_route_r1_ebgp.json"), node="r1", prefix="10.66.0.0/16",
                    origin=65001, rpki="valid")
    assert not seen.ok
    assert seen.expected == "r1's best path to 10.66.0.0/16 has origin AS 65001, RPKI valid"
    assert seen.observed == "best path: 65002 65003 (origin AS 65003, next hop r2), RPKI invalid"
    by_address, _ = check("bgp_route", vtysh("frr_bgp_route_r1_ebgp.json"), node="r1", prefix="10.66.0.0/16",
                          next_hop="10.255.0.9")
    assert not by_address.ok and "next hop 10.255.0.3)" in by_address.observed
    unchecked = json.loads(output("frr_bgp_route_r1_ebgp.json"))
    del unchecked["paths"][0]["rpkiValidationState"]
    seen, _ = check("bgp_route", {"vtysh": json.dumps(unchecked)}, node="r1", prefix="10.66.0.0/16", rpki="invalid")
    assert not seen.ok and seen.observed.endswith("next hop r2), RPKI not checked (no RPKI cache connected)")


def test_bgp_route_of_the_own_as_and_absent():
    seen, _ = check("bgp_route", vtysh("frr_bgp_route_r3_ibgp.json"), node="r3", prefix="10.66.0.0/16", as_path=[],
                    origin=65003)
    assert seen.ok and seen.expected == "r3's best path to 10.66.0.0/16 has origin AS 65003, an empty AS path"
    gone, _ = check("bgp_route", {"vtysh": "{}\n"}, node="r1", prefix="10.99.0.0/16", absent=True)
    assert gone.ok and (gone.expected, gone.observed) == ("r1 has no BGP route to 10.99.0.0/16",
                                                          "no BGP route to 10.99.0.0/16")
    there, _ = check("bgp_route", vtysh("frr_bgp_route_r1_ebgp.json"), node="r1", prefix="10.66.0.0/16", absent=True)
    assert not there.ok and there.observed.startswith("best path: 65002 65003")
    missing, _ = check("bgp_route", {"vtysh": "{}\n"}, node="r1", prefix="10.99.0.0/16")
    assert not missing.ok and missing.expected == "r1 has a BGP route to 10.99.0.0/16"


def test_bgp_route_when_vtysh_fails():
    down = subprocess.CompletedProcess([], 1, "", "Exiting: failed to connect to any daemons.\n")
    seen, _ = check("bgp_route", {"vtysh": down}, node="r1", prefix="10.66.0.0/16", origin=65003)
    assert not seen.ok and seen.observed == "vtysh failed (exit 1): Exiting: failed to connect to any daemons."


# --- bgp_session -------------------------------------------------------------------------------------------------

def test_bgp_session_established_and_shut_down():
    up, ctx = check("bgp_session", vtysh("frr_bgp_summary_r3.json"), node="r3")
    assert up.ok
    assert up.expected == "r3's BGP sessions with all its neighbours (r2, r4) are Established"
    assert up.observed == ("r2 (10.255.0.6) Established, r2 (fd00:77:0:5::) Established, r4 (10.254.0.4) "
                           "Established, r4 (fd00:77::4) Established")
    assert ctx.ran[0][1] == ["vtysh", "-c", "show bgp summary json"]
    shut, _ = check("bgp_session", vtysh("frr_bgp_summary_r3_shutdown.json"), node="r3", neighbors=["r2"])
    assert not shut.ok and shut.observed == "r2 (10.255.0.6) Idle (Admin), r2 (fd00:77:0:5::) Established"


def test_bgp_session_down_holds_only_when_no_session_is_established():
    shut = vtysh("frr_bgp_summary_r3_shutdown.json")
    seen, _ = check("bgp_session", shut, node="r3", neighbors=["r2"], state="down")
    assert not seen.ok and seen.expected == "r3's BGP sessions with r2 are not Established"
    gone = json.loads(output("frr_bgp_summary_r3_shutdown.json"))
    del gone["ipv6Unicast"]["peers"]["fd00:77:0:5::"]
    seen, _ = check("bgp_session", {"vtysh": json.dumps(gone)}, node="r3", neighbors=["r2"], state="down")
    assert seen.ok and seen.observed == "r2 (10.255.0.6) Idle (Admin), r2 (fd00:77:0:5::) not configured"


# --- ospf_neighbor -----------------------------------------------------------------------------------------------

def test_ospf_neighbor_full_names_routers_by_their_router_id():
    seen, ctx = check("ospf_neighbor", vtysh("frr_ospf_neighbor_r3.json"), node="r3")
    assert seen.ok
    assert (seen.expected, seen.observed) == ("r3's OSPF adjacencies with all its neighbours (r4) are Full",
                                              "r4 Full/DR on eth1")
    assert ctx.ran[0][1] == ["vtysh", "-c", "show ip ospf neighbor json"]
    v3, ctx = check("ospf_neighbor", vtysh("frr_ospf6_neighbor_r3.json"), node="r3", family=6, neighbors=["r4"])
    assert v3.ok and (v3.expected, v3.observed) == ("r3's OSPFv3 adjacencies with r4 are Full", "r4 Full on eth1")
    assert ctx.ran[0][1] == ["vtysh", "-c", "show ipv6 ospf6 neighbor json"]


def test_ospf_neighbor_lost_and_down():
    lost, _ = check("ospf_neighbor", {"vtysh": '{"neighbors": {}}'}, node="r3")
    assert not lost.ok and lost.observed == "r4 no adjacency"
    down, _ = check("ospf_neighbor", {"vtysh": '{"neighbors": {}}'}, node="r3", state="down")
    assert down.ok and down.expected == "r3's OSPF adjacencies with all its neighbours (r4) are not Full"
    still, _ = check("ospf_neighbor", vtysh("frr_ospf_neighbor_r3.json"), node="r3", state="down")
    assert not still.ok and still.observed == "r4 Full/DR on eth1"


# --- route -------------------------------------------------------------------------------------------------------

def test_route_via_a_node_by_protocol():
    seen, ctx = check("route", {"ip": output("ip_route_r1_bgp.json")}, node="r1", dst="10.66.0.0/16", via="r2",
                      protocol="bgp", dev="eth1")
    assert seen.ok
    assert seen.expected == "r1 has a route to 10.66.0.0/16 via r2, dev eth1, proto bgp"
    assert seen.observed == "10.66.0.0/16 via r2 (10.255.0.3) dev eth1 proto bgp metric 20"
    assert ctx.ran[0][1] == ["ip", "-4", "-j", "route", "show", "10.66.0.0/16"]
    wrong, _ = check("route", {"ip": output("ip_route_r1_bgp.json")}, node="r1", dst="10.66.0.0/16", via="h1",
                     protocol="ospf")
    assert not wrong.ok and wrong.observed == seen.observed


def test_route_over_ipv6_names_a_link_local_next_hop_on_a_lan():
    def ip(argv: list[str]) -> subprocess.CompletedProcess:
        node = ctx.ran[-1][0]
        text = output({"r3": "ip_route_r3_ospf6.json", "r4": "ip_address_r4_link_local.json",
                       "h3": "ip_address_h3_link_local.json"}[node])
        return subprocess.CompletedProcess(argv, 0, text, "")
    ctx = FakeContext({"ip": ip}, plan=PLAN)
    seen = ASSERTIONS["route"].model_validate({"node": "r3", "dst": "fd00:77::4/128", "via": "r4"}).check(ctx)
    assert seen.ok
    assert seen.observed == "fd00:77::4 via r4 (fe80::c858:a4ff:fedf:2f41) dev eth1 proto ospf metric 20"
    assert [node for node, _ in ctx.ran] == ["r3", "r4"]            # r4 has it: h3 is not asked


def test_route_default_blackhole_and_absent():
    gateway, _ = check("route", {"ip": output("ip_route_h1_default.json")}, node="h1", dst="default", via="r1")
    assert gateway.ok and (gateway.expected, gateway.observed) == (
        "h1 has a default route via r1", "default via r1 (10.255.0.1) dev eth0 proto static metric 20")
    blackhole, _ = check("route", {"ip": output("ip_route_r4_blackhole.json")}, node="r4", dst="10.66.0.0/16",
                         protocol="static")
    assert blackhole.ok and blackhole.observed == "blackhole 10.66.0.0/16 proto static metric 20"
    absent, _ = check("route", {"ip": "[]\n"}, node="h1", dst="10.9.0.0/24", absent=True)
    assert absent.ok and (absent.expected, absent.observed) == ("h1 has no route to 10.9.0.0/24",
                                                                "no route to 10.9.0.0/24")
    missing, _ = check("route", {"ip": "[]\n"}, node="h1", dst="default", family=6)
    assert not missing.ok and (missing.expected, missing.observed) == ("h1 has a default IPv6 route",
                                                                       "no default IPv6 route")


# --- the looking glass -------------------------------------------------------------------------------------------

@pytest.fixture
def glass(monkeypatch):
    """vtysh on the faked lab: r2 is down; r1 answers its captured IPv4 table, r3 and r4 an empty one, and each
    its captured path to 10.66.0.0/16."""
    def vtysh_json(lab, node, command, plan=None):
        if node == "r2":
            raise LabError("vtysh on r2 (show bgp) exits 1: Exiting: failed to connect to any daemons.")
        if "json detail" in command:
            return json.loads(output("frr_bgp_table_r1_detail.json")) if (node, "ipv4") == ("r1", command[9:13]) \
                else {}
        return json.loads(output({"r1": "frr_bgp_route_r1_ebgp.json", "r3": "frr_bgp_route_r3_ibgp.json",
                                  "r4": "frr_bgp_route_r4_local.json"}[node]))
    monkeypatch.setattr(lookingglass, "vtysh_json", vtysh_json)


def rows(table) -> list[list[str]]:
    """The table's rows as their cells' text (a cell's first line), then its caption's lines."""
    console = Console(width=200, record=True)
    console.print(table)
    lines = console.export_text().splitlines()
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")] + \
        [[line.strip() for line in lines[lines.index(next(x for x in lines if x.startswith("└"))) + 1:]]]


def test_looking_glass_on_one_prefix(glass):
    views = lookingglass.look("routing", PLAN, ip_network("10.66.0.0/16"))
    assert [(v.node, [p.origin for p in v.paths], bool(v.error)) for v in views] == \
        [("r1", [65003], False), ("r2", [], True), ("r3", [65003], False), ("r4", [65003], False)]
    found = rows(lookingglass.render("routing", views, ip_network("10.66.0.0/16")))
    assert found[:4] == [["r1", "65001", "65002 65003", "65003", "r2", "invalid"],
                         ["r2", "65002", "vtysh on r2 (show bgp) exits 1: Exiting: failed to connect to any daemons.",
                          "", "", ""],
                         ["r3", "65003", "empty AS path", "65003", "r4", "invalid"],
                         ["r4", "65003", "originated here", "65003", "itself", "invalid"]]


def test_looking_glass_overview(glass):
    views = lookingglass.look("routing", PLAN)
    assert len(views[0].paths) == 9 and views[0].paths[0].prefix == "10.0.0.0/24"
    found = rows(lookingglass.render("routing", views))
    assert ["10.66.0.0/16", "65003", "65002 65003", "-", "-", "-"] in found
    assert ["10.254.0.1/32", "65001", "local", "-", "-", "-"] in found
    caption = " ".join(found[-1])                                     # wrapped to the table's width
    assert caption.startswith("local: originated by the router; iBGP: from a router of its AS")
    assert "r2: vtysh on r2 (show bgp) exits 1: Exiting: failed to connect to any daemons." in caption


def test_no_bgp_router():
    demo = compile_plan(*load_topology(REPO / "topologies" / "demo.yml"))
    with pytest.raises(LabError, match="lab 'demo' has no BGP routers \\(routers with an asn\\); its routers: r1, r2"):
        lookingglass.look("demo", demo)


def test_labctl_bgp_refuses_what_is_not_a_prefix(capsys):
    assert main(["bgp", "rt-none", "10.66.0.1/16"]) == 2
    assert capsys.readouterr().err.strip() == "labctl bgp: '10.66.0.1/16' is not a prefix: the prefix is 10.66.0.0/16"
    assert main(["bgp", "rt-none", "r1"]) == 2
    assert capsys.readouterr().err.strip() == \
        "labctl bgp: 'r1' is not a prefix; give one like 10.0.1.0/24 or 2001:db8::/64"
