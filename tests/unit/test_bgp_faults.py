"""The BGP faults' vtysh lines, on the plan of tests/integration/topologies/bgp-line.yml (r1 AS65001 - r2 AS65002 -
r3 AS65003, h3's LAN 10.0.3.0/24 behind r3); bgp_withdraw reads a running configuration captured after
bgp_announce (forged origin, served address) on that lab. Load-time errors: tests/scenario_errors/bgp_*.yml."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labctl.errors import LabError
from labctl.scenario.faults import FAULTS, bgp
from labctl.topology import compile_plan, load_topology

HERE = Path(__file__).parent
PLAN = compile_plan(*load_topology(HERE.parent / "integration" / "topologies" / "bgp-line.yml"))
HIJACKED = (HERE / "outputs" / "frr_running_config_r1_hijack.txt").read_text()


def fault(name: str, **keys):
    return FAULTS[name].model_validate(keys)


def test_a_hijack_is_a_blackhole_the_loopback_address_a_forged_path_and_the_network():
    step = fault("bgp_announce", node="r1", prefix="10.0.3.0/24", origin="AS65003", serve="10.0.3.2")
    assert step.problems(PLAN) == []
    assert step.lines(PLAN) == [
        "ip route 10.0.3.0/24 blackhole",
        "interface lo", " ip address 10.0.3.2/32", "exit",
        "route-map FORGED-10.0.3.0/24 permit 10", " set as-path prepend 65003", "exit",
        "bgp as-path access-list ORIGINATED seq 100 permit ^65003$",
        "router bgp 65001", " address-family ipv4 unicast", "  network 10.0.3.0/24 route-map FORGED-10.0.3.0/24",
        " exit-address-family", "exit"]


@pytest.mark.parametrize("prefix, family, route", [
    ("10.0.3.0/24", "ipv4", None),                           # connected: BGP finds it in the routing table as is
    ("10.0.3.128/25", "ipv4", "ip route 10.0.3.128/25 eth1"),  # half of its LAN: the hosts stay reachable
    ("10.9.0.0/16", "ipv4", "ip route 10.9.0.0/16 blackhole"),
    ("2001:db8:9::/48", "ipv6", "ipv6 route 2001:db8:9::/48 blackhole")])
def test_the_static_route_lets_bgp_originate_what_is_not_connected(prefix, family, route):
    lines = fault("bgp_announce", node="r3", prefix=prefix).lines(PLAN)
    assert lines[:-5] == ([route] if route else [])
    assert lines[-5:-2] == ["router bgp 65003", f" address-family {family} unicast", f"  network {prefix}"]


def test_withdraw_undoes_what_the_announcement_added():
    lines, removed = fault("bgp_withdraw", node="r1", prefix="10.0.3.0/24").lines(PLAN, HIJACKED)
    assert lines == ["router bgp 65001", " address-family ipv4 unicast", "  no network 10.0.3.0/24",
                     " exit-address-family", "exit",
                     "no route-map FORGED-10.0.3.0/24", "no ip route 10.0.3.0/24 blackhole",
                     "interface lo", " no ip address 10.0.3.2/32", "exit"]
    assert removed == ["route-map FORGED-10.0.3.0/24", "`ip route 10.0.3.0/24 blackhole`", "10.0.3.2 on lo"]


def test_withdrawing_a_topology_prefix_removes_only_its_network_statement():
    lines, removed = fault("bgp_withdraw", node="r1", prefix="10.0.1.0/24").lines(PLAN, HIJACKED)
    assert lines[2] == "  no network 10.0.1.0/24" and len(lines) == 5 and removed == []


def test_withdrawing_what_the_router_does_not_originate_says_what_it_does():
    with pytest.raises(LabError, match=r"r1 does not originate 10\.0\.3\.0/25; it originates 10\.0\.1\.0/24, "
                                       r"10\.0\.3\.0/24, 10\.254\.0\.1/32"):
        fault("bgp_withdraw", node="r1", prefix="10.0.3.0/25").lines(PLAN, HIJACKED)


def test_rov_edits_the_rov_route_map_then_refreshes_every_router_inbound(monkeypatch):
    typed: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(bgp, "configure", lambda lab, node, lines, plan: typed.append((node, lines)))
    monkeypatch.setattr(bgp, "vtysh", lambda lab, node, *commands, plan: typed.append((node, list(commands))))
    said = fault("rov", enabled=True).inject(SimpleNamespace(lab="bgp-line", plan=PLAN))
    assert said.startswith("ROV on at r1, r2, r3: RPKI-invalid routes dropped")
    assert typed[:2] == [("r1", ["route-map ROV deny 10", " match rpki invalid", "exit"]),
                         ("r1", ["clear bgp ipv4 unicast * soft in", "clear bgp ipv6 unicast * soft in"])]
    assert [node for node, _ in typed] == ["r1", "r1", "r2", "r2", "r3", "r3"]
    assert fault("rov", nodes=["r2"], enabled=False).lines() == ["no route-map ROV deny 10"]
