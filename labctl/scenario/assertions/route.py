"""`route`: a route in the kernel routing table of a node (any node, hosts too), from `ip -j route show DST`: that
it is there or not, and through which neighbour, interface and protocol."""
from __future__ import annotations

import json
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from labctl.plan import Plan
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import JsonCheck
from labctl.scenario.context import Context
from labctl.scenario.steps.base import is_address

Protocol = Literal["kernel", "boot", "static", "redirect", "dhcp", "ra", "zebra", "bgp", "ospf", "isis", "rip",
                   "babel"]


def link_local_owner(ctx: Context, node: str, dev: str, address: str) -> str | None:
    """The neighbour of `node` on `dev` that has this link-local address (the kernel's next hop of OSPFv3 and
    IPv6 BGP routes): the other end of a point-to-point link, or, on a LAN, the node on its switch that answers
    with it."""
    intf = next((i for i in ctx.plan.node(node).interfaces if i.name == dev), None)
    if intf is None:
        return None
    peer, peer_dev = intf.peer.split(":")
    if ctx.plan.node(peer).kind != "switch":
        return peer
    for other, other_dev in (i.peer.split(":") for i in ctx.plan.node(peer).interfaces if i.peer != f"{node}:{dev}"):
        done = ctx.run(other, ["ip", "-6", "-j", "address", "show", "dev", other_dev, "scope", "link"])
        try:
            if any(a.get("local") == address for i in json.loads(done.stdout or "[]") for a in i.get("addr_info", [])):
                return other
        except json.JSONDecodeError:
            continue
    return None


@ASSERTIONS.register("route")
class Route(JsonCheck):
    node_fields = ("node", "via")
    dst: Literal["default"] | IPv4Network | IPv6Network = Field(description="a prefix, or default")
    via: str | None = Field(None, description="the next hop: a node or an address")
    dev: str | None = Field(None, description="the interface it leaves by")
    protocol: Protocol | None = Field(None, description="what put it there, as `ip route` names it")
    family: Literal[4, 6] | None = Field(None, description="of a default route (4 unless given); a prefix has its own")
    absent: bool = Field(False, description="no route to dst at all")

    @field_validator("dst", mode="before")
    @classmethod
    def _prefix_or_default(cls, value: Any) -> Any:
        if value == "default" or not isinstance(value, str):
            return value
        try:
            return ip_network(value)
        except ValueError:
            pass
        try:
            network = ip_network(value, strict=False)
        except ValueError:
            raise ValueError("expected a prefix with its length, e.g. 10.0.1.0/24 or 2001:db8::/64, or default") \
                from None
        raise ValueError(f"{value} is an address, not a network: the network is {network} (host bits are zero)")

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        if self.absent and (self.via or self.dev or self.protocol):
            raise ValueError("absent: true means no route, which has no via, dev or protocol: give either absent "
                             "or those")
        if self.dst != "default" and self.family and self.family != self.dst.version:
            raise ValueError(f"family {self.family} contradicts dst {self.dst}, an IPv{self.dst.version} prefix")
        if self.via and is_address(self.via) and ip_address(self.via).version != self.version():
            raise ValueError(f"via {self.via} is an IPv{ip_address(self.via).version} address and the route an "
                             f"IPv{self.version()} one")
        return self

    def version(self) -> int:
        return (self.family or 4) if self.dst == "default" else self.dst.version

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        names = ["lo"] + [i.name for i in plan.node(self.node).interfaces]
        if self.dev and self.dev not in names:
            return [(("dev",), f"{self.node} has no interface '{self.dev}'; its interfaces: {', '.join(names)}")]
        return []

    def argv(self) -> list[str]:
        return ["ip", f"-{self.version()}", "-j", "route", "show", str(self.dst)]

    def target(self) -> str:
        kind = " IPv6" if self.dst == "default" and self.version() == 6 else ""
        return f"a default{kind} route" if self.dst == "default" else f"a route to {self.dst}"

    def expectation(self, plan: Plan | None) -> str:
        """"r1 has a route to 10.66.0.0/16 via r2, dev eth1, proto bgp", "h1 has no route to 10.9.0.0/24"."""
        if self.absent:
            return f"{self.node} has no {self.target().removeprefix('a ')}"
        wanted = ([f"via {self.via}"] if self.via else []) + ([f"dev {self.dev}"] if self.dev else []) + \
            ([f"proto {self.protocol}"] if self.protocol else [])
        return f"{self.node} has {self.target()}" + (f" {', '.join(wanted)}" if wanted else "")

    def judge(self, ctx: Context, answer: Any) -> tuple[bool, str]:
        if not answer:
            return self.absent, f"no {self.target().removeprefix('a ')}"
        routes = [(r, [self.hop(ctx, h) for h in r.get("nexthops", [r])]) for r in answer]
        holds = not self.absent and any(
            self.protocol in (None, r.get("protocol"))
            and any(self.dev in (None, dev) and self.via in (None, gateway, name) for gateway, dev, name in hops)
            for r, hops in routes)
        return holds, "; ".join(_describe(r, hops) for r, hops in routes)

    def hop(self, ctx: Context, hop: dict) -> tuple[str | None, str | None, str | None]:
        """(gateway, dev, the gateway's node) of one next hop of a route."""
        gateway, dev = hop.get("gateway"), hop.get("dev")
        name = ctx.node_of(gateway) if gateway else None
        if gateway and name is None and gateway.startswith("fe80:") and dev:
            name = link_local_owner(ctx, self.node, dev, gateway)
        return gateway, dev, name


def _describe(route: dict, hops: list[tuple[str | None, str | None, str | None]]) -> str:
    """As `ip route` shows it, with next hops named: 'blackhole 10.66.0.0/16 proto static',
    '10.66.0.0/16 via r2 (10.255.0.3) dev eth1 proto bgp metric 20'."""
    parts = [route["type"]] if route.get("type", "unicast") != "unicast" else []
    parts.append(route["dst"])
    for gateway, dev, name in hops:
        parts += ([f"via {name} ({gateway})" if name else f"via {gateway}"] if gateway else []) + \
            ([f"dev {dev}"] if dev else [])
    parts += [f"{key} {route[field]}" for key, field in (("proto", "protocol"), ("metric", "metric")) if field in route]
    return " ".join(parts)
