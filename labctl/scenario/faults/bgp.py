"""BGP faults, made with vtysh on the running routers as an operator (or an attacker) would: `bgp_announce` (a
router originates a prefix, maybe another AS's, with a forged origin and an address it answers on: a hijack),
`bgp_withdraw` (it stops, and what bgp_announce added goes) and `rov` (RPKI origin validation on or off)."""
from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address, ip_interface

from pydantic import Field, field_validator

from labctl.errors import LabError
from labctl.plan import NodePlan, Plan
from labctl.runtime.frr import bgp_speakers, configure, require_bgp, vtysh
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from labctl.scenario.steps.fault import FaultStep
from labctl.topology.routing_schema import AsNumber, Prefix

Problems = list[tuple[tuple, str]]
ROV_DENY = ["route-map ROV deny 10", " match rpki invalid", "exit"]          # the entry bgpd.j2 writes for rov: true
SOFT_IN = ["clear bgp ipv4 unicast * soft in", "clear bgp ipv6 unicast * soft in"]


def not_bgp(plan: Plan, nodes: list[tuple[tuple, str]]) -> Problems:
    """A problem for each (key, node) that runs no BGP."""
    found = []
    for key, node in nodes:
        try:
            require_bgp(plan, node)
        except LabError as exc:
            found.append((key, str(exc)))
    return found


class _PrefixFault(FaultStep):
    node_fields = ("node",)
    node: str
    prefix: Prefix

    def problems(self, plan: Plan) -> Problems:
        return not_bgp(plan, [(("node",), self.node)])

    def family(self) -> str:
        return f"ipv{self.prefix.version}"

    def ip(self) -> str:
        """How vtysh names the prefix's family in routes and addresses."""
        return "ipv6" if self.prefix.version == 6 else "ip"

    def bgp(self, asn: int, line: str) -> list[str]:
        """`line` in the prefix's address family of the router's BGP."""
        return [f"router bgp {asn}", f" address-family {self.family()} unicast", f"  {line}", " exit-address-family",
                "exit"]

    def forged(self) -> str:
        """The route-map that forges the prefix's origin."""
        return f"FORGED-{self.prefix}"


FORGED_ORIGINATED = "bgp as-path access-list ORIGINATED seq 100"     # see bgpd.j2: what a router exports as its own


@FAULTS.register("bgp_announce")
class BgpAnnounce(_PrefixFault):
    """`node` originates `prefix`, its own or another AS's (a hijack: the exact prefix, or a more specific)."""

    origin: AsNumber | None = Field(None, description="a forged origin AS: the path ends in it, after the router's")
    serve: IPv4Address | IPv6Address | None = Field(None, description="an address of the prefix the router puts on "
                                                                      "its loopback: its services answer there")

    @field_validator("origin", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, str) and re.fullmatch(r"(?i)AS\d+", value):
            return int(value[2:])
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("origin is an AS number, e.g. 65003 (or AS65003)")
        return value

    def problems(self, plan: Plan) -> Problems:
        if found := super().problems(plan):
            return found
        routing = plan.node(self.node).routing
        if not any(n.family == self.family() for n in routing.neighbors):
            found.append((("prefix",), f"{self.node} has no IPv{self.prefix.version} BGP session to announce "
                                       f"{self.prefix} over"))
        if self.origin == routing.asn:
            found.append((("origin",), f"AS {self.origin} is {self.node}'s own; a forged origin is another AS, "
                                       "e.g. the one the prefix belongs to"))
        if self.serve and not (self.serve.version == self.prefix.version and self.serve in self.prefix):
            found.append((("serve",), f"{self.serve} is not in {self.prefix}; serve an address of the prefix, e.g. "
                                      f"{next(self.prefix.hosts(), self.prefix.network_address)}"))
        return found

    def static_route(self, node: NodePlan) -> str | None:
        """What lets BGP originate the prefix (FRR's import check wants it, exactly, in the routing table): nothing
        for a connected subnet, a route to the interface for a part of one (its hosts stay reachable), else a
        blackhole (what the router does not serve is dropped)."""
        networks = node.networks()
        if any(network == self.prefix for _, network in networks):
            return None
        via = next((name for name, network in networks
                    if network.version == self.prefix.version and self.prefix.subnet_of(network)), "blackhole")
        return f"{self.ip()} route {self.prefix} {via}"

    def lines(self, plan: Plan) -> list[str]:
        """The router's configuration lines, in vtysh's configure mode."""
        node = plan.node(self.node)
        route = self.static_route(node)
        lines = [route] if route else []
        if self.serve:
            lines += ["interface lo", f" {self.ip()} address {self.serve}/{self.serve.max_prefixlen}", "exit"]
        network = f"network {self.prefix}"
        if self.origin:     # and the router exports the forged path as its own (not only an empty path)
            lines += [f"route-map {self.forged()} permit 10", f" set as-path prepend {self.origin}", "exit",
                      f"{FORGED_ORIGINATED} permit ^{self.origin}$"]
            network += f" route-map {self.forged()}"
        return lines + self.bgp(node.routing.asn, network)

    def inject(self, ctx: Context) -> str:
        configure(ctx.lab, self.node, self.lines(ctx.plan), plan=ctx.plan)
        origin = f"{self.origin}, forged" if self.origin else ctx.plan.node(self.node).routing.asn
        served = f", answering on {self.serve}" if self.serve else ""
        return f"{self.node} announces {self.prefix} (origin AS {origin}){served}"


@FAULTS.register("bgp_withdraw")
class BgpWithdraw(_PrefixFault):
    """`node` stops originating `prefix` (bgp_announce's or the topology's); what bgp_announce added goes too."""

    def lines(self, plan: Plan, running: str) -> tuple[list[str], list[str]]:
        """The configuration lines, found in the router's running configuration, and what they remove besides the
        network statement; a LabError if the router does not originate the prefix."""
        routing, prefix, ip = plan.node(self.node).routing, re.escape(str(self.prefix)), self.ip()
        network = re.search(rf"^  network {prefix}(?: route-map (\S+))?$", running, re.M)
        if network is None:
            originated = ", ".join(re.findall(r"^  network (\S+)", running, re.M)) or "nothing"
            raise LabError(f"{self.node} does not originate {self.prefix}; it originates {originated}")
        lines, removed = self.bgp(routing.asn, f"no network {self.prefix}"), []
        if network[1] == self.forged():
            lines.append(f"no route-map {network[1]}")
            removed.append(f"route-map {network[1]}")
            lines += [f"no {entry}" for entry in re.findall(rf"^{re.escape(FORGED_ORIGINATED)} permit \S+$", running,
                                                            re.M)]
        if all(a.prefix != str(self.prefix) for a in routing.announce):     # the topology's blackhole stays
            routes = re.findall(rf"^{ip} route {prefix} \S+$", running, re.M)
            lines += [f"no {route}" for route in routes]
            removed += [f"`{route}`" for route in routes]
        lo = re.search(r"^interface lo\n((?: .*\n)*)", running, re.M)
        served = [a for a in re.findall(rf"^ {ip} address (\S+)$", lo[1] if lo else "", re.M)
                  if ip_interface(a).ip in self.prefix]
        if served:
            lines += ["interface lo", *[f" no {ip} address {a}" for a in served], "exit"]
            removed += [f"{a.split('/')[0]} on lo" for a in served]
        return lines, removed

    def inject(self, ctx: Context) -> str:
        lines, removed = self.lines(ctx.plan, vtysh(ctx.lab, self.node, "show running-config", plan=ctx.plan))
        configure(ctx.lab, self.node, lines, plan=ctx.plan)
        return f"{self.node} no longer announces {self.prefix}" + (f"; removed {', '.join(removed)}" if removed else "")


@FAULTS.register("rov")
class Rov(FaultStep):
    """RPKI origin validation on or off at run time on `node`, `nodes`, or every BGP router; the routes already
    received are evaluated again."""

    node_fields = ("node", "nodes")
    node: str | None = None
    nodes: list[str] | None = Field(None, min_length=1)
    enabled: bool

    def routers(self, plan: Plan) -> list[str]:
        return [self.node] if self.node else self.nodes or bgp_speakers(plan)

    def problems(self, plan: Plan) -> Problems:
        if self.node and self.nodes:
            return [(("nodes",), "give node (one router) or nodes (a list), not both")]
        found = not_bgp(plan, [(("node",), self.node)] if self.node else
                        [(("nodes", i), node) for i, node in enumerate(self.nodes or [])])
        if not found and not any(n.routing and n.routing.rpki_cache for n in plan.nodes.values()):
            found.append(((), "rov needs the lab's RPKI: the topology has no `rpki:` (a validator host and roas)"))
        return found

    def lines(self) -> list[str]:
        return ROV_DENY if self.enabled else ["no route-map ROV deny 10"]

    def inject(self, ctx: Context) -> str:
        routers = self.routers(ctx.plan)
        for node in routers:
            configure(ctx.lab, node, self.lines(), plan=ctx.plan)
            vtysh(ctx.lab, node, *SOFT_IN, plan=ctx.plan)       # without it, routes already received keep their fate
        fate = "dropped" if self.enabled else "accepted"
        return f"ROV {'on' if self.enabled else 'off'} at {', '.join(routers)}: RPKI-invalid routes {fate}, " \
               "the routes received evaluated again (soft inbound refresh)"
