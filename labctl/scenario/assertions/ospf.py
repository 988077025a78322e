"""`ospf_neighbor`: a router's OSPF adjacencies (OSPFv2, or OSPFv3 with `family: 6`), read from FRR's JSON; FRR
names neighbours by router id, which the plan maps back to node names."""
from __future__ import annotations

from ipaddress import ip_interface
from typing import Any, Literal

from pydantic import Field

from labctl.plan import OspfInterfacePlan, Plan, RoutingPlan
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import JsonCheck
from labctl.scenario.context import Context


def ospf_neighbours(plan: Plan, node: str, family: int) -> list[str]:
    """The routers `node` forms OSPF adjacencies with by the plan: those with a non-passive OSPF interface on the
    subnet of one of its own."""
    def subnets(name: str) -> set:
        found = plan.node(name)
        active = {i.name for i in _interfaces(found.routing, family) if not i.passive}
        version = "ipv4" if family == 4 else "ipv6"
        return {ip_interface(getattr(i, version)).network for i in found.interfaces
                if i.name in active and getattr(i, version)}
    mine = subnets(node)
    return [other for other in plan.nodes if other != node and subnets(other) & mine]


def _interfaces(routing: RoutingPlan | None, family: int) -> list[OspfInterfacePlan]:
    return (routing.ospf if family == 4 else routing.ospf6) if routing else []


def adjacencies(answer: Any, family: int) -> list[tuple[str, str, str]]:
    """(router id, state, interface) of each neighbour FRR lists: `show ip ospf neighbor json` keys them by
    router id, each a list ('Full/DR' on 'eth1:10.0.0.1'); `show ipv6 ospf6 neighbor json` lists them."""
    if family == 6:
        return [(n["neighborId"], n["state"], n["interfaceName"]) for n in answer.get("neighbors", [])]
    return [(router_id, n["nbrState"], n["ifaceName"].split(":")[0])
            for router_id, found in answer.get("neighbors", {}).items() for n in found]


@ASSERTIONS.register("ospf_neighbor")
class OspfNeighbor(JsonCheck):
    node_fields = ("node", "neighbors")
    neighbors: list[str] = Field([], description="neighbours by node name (default: all the router's, by the "
                                                 "topology)")
    state: Literal["full", "down"] = "full"
    family: Literal[4, 6] = Field(4, description="6: OSPFv3")

    def protocol(self) -> str:
        return "OSPF" if self.family == 4 else "OSPFv3"

    def expected_neighbours(self, plan: Plan) -> list[str]:
        return self.neighbors or ospf_neighbours(plan, self.node, self.family)

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        if not _interfaces(plan.node(self.node).routing, self.family):
            routers = ", ".join(n.name for n in plan.nodes.values() if _interfaces(n.routing, self.family))
            return [(("node",), f"{self.node} runs no {self.protocol()} (routers that do: {routers or 'none'})")]
        known = ospf_neighbours(plan, self.node, self.family)
        if not known:
            return [(("node",), f"{self.node} has no {self.protocol()} neighbours in the topology")]
        return [(("neighbors", k), f"{name} is no {self.protocol()} neighbour of {self.node}; its neighbours: "
                                   f"{', '.join(known)}") for k, name in enumerate(self.neighbors) if name not in known]

    def argv(self) -> list[str]:
        return ["vtysh", "-c", "show ip ospf neighbor json" if self.family == 4 else "show ipv6 ospf6 neighbor json"]

    def expectation(self, plan: Plan | None) -> str:
        """"r3's OSPF adjacencies with r4 are Full"."""
        whom = ", ".join(self.neighbors) if self.neighbors else "all its neighbours" + \
            (f" ({', '.join(self.expected_neighbours(plan))})" if plan else "")
        return f"{self.node}'s {self.protocol()} adjacencies with {whom} are " \
            f"{'not ' if self.state == 'down' else ''}Full"

    def judge(self, ctx: Context, answer: Any) -> tuple[bool, str]:
        names = {n.routing.router_id: n.name for n in ctx.plan.nodes.values() if n.routing}
        found: dict[str, list[str]] = {}
        full: set[str] = set()
        for router_id, state, ifname in adjacencies(answer, self.family):
            name = names.get(router_id, router_id)
            found.setdefault(name, []).append(f"{state} on {ifname}")
            if state.split("/")[0] == "Full":              # OSPFv2 adds the role: Full/DR, 2-Way/DROther
                full.add(name)
        wanted = self.expected_neighbours(ctx.plan)
        holds = all((n in full) == (self.state == "full") for n in wanted)
        observed = [f"{name} {', '.join(found[name])}" if name in found else f"{name} no adjacency" for name in wanted]
        observed += [f"also {name} {', '.join(states)}" for name, states in found.items() if name not in wanted]
        return holds, ", ".join(observed)
