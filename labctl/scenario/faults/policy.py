"""Routing policy faults, what an operator changes on a running router: `prefix_filter` (a router accepts from a
customer or peer only the prefixes it should: its customer cone, or a list) and `route_leak` (a router exports
everything to a neighbour, breaking valley-free routing, as a misconfigured multihomed customer does). Both apply
at once: the neighbour's routes are refreshed (`clear bgp ... soft`)."""
from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import Field

from labctl.errors import LabError
from labctl.plan import BgpNeighborPlan, Plan
from labctl.runtime.frr import configure, sessions_with, vtysh
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from labctl.scenario.faults.nodes import NodeFault
from labctl.topology.protocols import customer_cones


class _SessionFault(NodeFault):
    node_fields = ("node", "neighbor")
    neighbor: str = Field(description="the router at the other end of the BGP session")

    def title(self) -> str:
        return self.name or f"{self.fault} {self.node} -> {self.neighbor}"

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        try:
            self.check_sessions(sessions_with(plan, self.node, self.neighbor))
        except LabError as exc:
            return [(("neighbor",), str(exc))]
        return []

    def check_sessions(self, sessions: list[BgpNeighborPlan]) -> None:
        if any(s.ibgp for s in sessions):
            raise LabError(f"{self.node} and {self.neighbor} are in the same AS: this is about eBGP policy")

    def apply(self, ctx: Context, lines: list[str], direction: str) -> list[BgpNeighborPlan]:
        sessions = sessions_with(ctx.plan, self.node, self.neighbor)
        configure(ctx.lab, self.node, lines, plan=ctx.plan)
        vtysh(ctx.lab, self.node, *[f"clear bgp {s.family} unicast {s.address} soft {direction}" for s in sessions],
              plan=ctx.plan)
        return sessions


@FAULTS.register("prefix_filter")
class PrefixFilter(_SessionFault):
    accept: list[IPv4Network | IPv6Network] | None = Field(
        None, description="the prefixes accepted from the neighbour; default: its customer cone in the topology")

    def check_sessions(self, sessions: list[BgpNeighborPlan]) -> None:
        super().check_sessions(sessions)
        if sessions[0].relationship == "provider":
            raise LabError(f"{self.neighbor} is {self.node}'s provider: a router filters its customers and peers")

    def inject(self, ctx: Context) -> str:
        sessions = sessions_with(ctx.plan, self.node, self.neighbor)
        cone = customer_cones(ctx.plan)[sessions[0].asn]
        wanted = [str(p) for p in self.accept] if self.accept is not None else sorted(cone)
        lines, accepted = [], []
        for s in sessions:
            name = f"{'ACCEPT6' if s.family == 'ipv6' else 'ACCEPT'}-{self.neighbor}"
            ip = "ipv6" if s.family == "ipv6" else "ip"
            mine = [p for p in wanted if (":" in p) == (s.family == "ipv6")]
            accepted += mine
            lines += [f"no {ip} prefix-list {name}"]
            lines += [f"{ip} prefix-list {name} seq {5 * k} permit {p}" for k, p in enumerate(mine, 1)] or \
                     [f"{ip} prefix-list {name} seq 5 deny any"]
            lines += [f"router bgp {ctx.plan.node(self.node).routing.asn}", f"address-family {s.family} unicast",
                      f"neighbor {s.address} prefix-list {name} in", "exit-address-family", "exit"]
        self.apply(ctx, lines, "in")
        return f"{self.node} accepts from {self.neighbor} only {', '.join(accepted) or 'nothing'}"


@FAULTS.register("route_leak")
class RouteLeak(_SessionFault):
    """The router's export policy to the neighbour becomes `permit` everything: a customer leaks what it learnt
    from one provider to the other."""

    def inject(self, ctx: Context) -> str:
        sessions = sessions_with(ctx.plan, self.node, self.neighbor)
        lines = [f"route-map OUT{'6' if s.family == 'ipv6' else ''}-{self.neighbor} permit 1" for s in sessions]
        self.apply(ctx, [part for line in lines for part in (line, "exit")], "out")
        role = sessions[0].relationship
        return f"{self.node} exports every route to {self.neighbor}" + (f" (its {role})" if role else "")
