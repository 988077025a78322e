"""The compiled plan: plain, serialisable data that the runtime builds. No kernel calls here."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

NodeKind = Literal["host", "router", "switch"]


class InterfacePlan(BaseModel):
    name: str
    peer: str                    # "node:interface" at the other end of the link
    link: int                    # index into Plan.links
    ipv4: str | None = None      # "10.0.1.1/24"
    ipv6: str | None = None
    mtu: int | None = None


class RoutePlan(BaseModel):
    dst: str                     # "10.0.2.0/24", "default" for a host's gateway
    via: str
    dev: str
    metric: int
    source: Literal["computed", "gateway", "topology"]


class NodePlan(BaseModel):
    name: str
    kind: NodeKind
    interfaces: list[InterfacePlan] = []
    loopback: list[str] = []     # addresses on lo, e.g. "10.254.0.1/32"
    routes: list[RoutePlan] = []

    @property
    def forwarding(self) -> bool:
        return self.kind == "router"

    def interface(self, name: str) -> InterfacePlan:
        return next(i for i in self.interfaces if i.name == name)

    def addresses(self) -> list[str]:
        """Every address of the node without prefix length, loopbacks first."""
        found = [a for a in self.loopback]
        for intf in self.interfaces:
            found += [a for a in (intf.ipv4, intf.ipv6) if a]
        return [a.split("/")[0] for a in found]


class Shaping(BaseModel):
    """A link's shaping in canonical units (what the topology's `rate: 10mbit` etc. compile to)."""

    rate_bps: int | None = None
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    queue_packets: int | None = None
    mtu: int | None = None

    def is_shaped(self) -> bool:
        return any(v is not None for k, v in self if k != "mtu")

    def describe(self) -> str:
        """'10 Mbit/s, 5 ms ± 1 ms, 1% loss, queue 50', or 'no shaping'."""
        parts = []
        if self.rate_bps:
            parts.append(f"{self.rate_bps / 1e6:g} Mbit/s")
        if self.delay_ms:
            parts.append(f"{self.delay_ms:g} ms" + (f" ± {self.jitter_ms:g} ms" if self.jitter_ms else ""))
        if self.loss_pct:
            parts.append(f"{self.loss_pct:g}% loss")
        if self.queue_packets:
            parts.append(f"queue {self.queue_packets}")
        return ", ".join(parts) or "no shaping"


class LinkPlan(BaseModel):
    a: str                       # "node:interface"
    b: str
    shaping: Shaping = Shaping()

    def ends(self) -> list[tuple[str, str]]:
        return [tuple(end.split(":")) for end in (self.a, self.b)]

    def label(self) -> str:
        return f"{self.a.split(':')[0]}-{self.b.split(':')[0]}"


class SubnetPlan(BaseModel):
    name: str                    # "lan s1", "link r1-r2", "loopback r1"
    kind: Literal["lan", "p2p", "loopback"]
    ipv4: str | None = None
    ipv6: str | None = None


class Plan(BaseModel):
    name: str
    source: str | None = None
    nodes: dict[str, NodePlan]
    links: list[LinkPlan]
    subnets: list[SubnetPlan]
    hosts: list[tuple[str, str]] = []   # (address, name) lines of each node's /etc/hosts

    def node(self, name: str) -> NodePlan:
        return self.nodes[name]

    def links_between(self, a: str, b: str) -> list[LinkPlan]:
        return [link for link in self.links if {e[0] for e in link.ends()} == {a, b}]
