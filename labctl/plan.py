"""The compiled plan: plain, serialisable data that the runtime builds. No kernel calls here."""
from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_interface
from typing import Literal

from pydantic import BaseModel

from labctl.errors import LabError
from labctl.units import format_duration, format_rate

NodeKind = Literal["host", "router", "switch"]
# Interface indexes the plan gives, so the runtime never looks one up: lo is 1, and a kernel with tunnel modules
# loaded puts fallback devices (tunl0, sit0, gre0, ...) at low indexes in every new namespace.
BRIDGE_IFINDEX = 15              # a switch's bridge
FIRST_IFINDEX = 16               # a node's interfaces, in plan order


class InterfacePlan(BaseModel):
    name: str
    index: int                   # its ifindex in the node's namespace, chosen when the lab is built
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


class FilePlan(BaseModel):
    """A generated file, at the path the node's processes see (/etc/... is kept per node, see paths.node_file)."""

    path: str
    content: str
    executable: bool = False     # a command: one in a service's bin/ is on the node's PATH (see ServicePlan)


class ServicePlan(BaseModel):
    """A daemon on a node: its files, how it runs (in the foreground, its output being its log), when it is
    healthy and how it stops. Every instance of the services in `after` is healthy before it starts. Commands it
    puts in its folder's bin/ come first on the node's PATH (`labctl exec`, `shell`, checks): FRR's vtysh wrapper
    finds the node's own FRR instance."""

    name: str
    after: list[str] = []
    ports: dict[str, int] = {}   # what it serves where, by protocol name: {"http": 80}
    files: list[FilePlan] = []
    user: str | None = None      # the user its daemons drop to: its folder and log are theirs, to write their logs
    runtime_dirs: list[str] = [] # folders in its own it needs made (its user's) before it starts; removed after it stops
    command: list[str]
    health: list[str]            # a command run in the node: exit 0 means healthy
    ready_timeout_s: float = 10.0
    stop_command: list[str] = [] # run in the node to stop it the way its package does; else stop_signal is sent
    stop_signal: str = "TERM"
    stop_timeout_s: float = 5.0


class OspfInterfacePlan(BaseModel):
    name: str                    # "eth0", "lo"
    area: str
    passive: bool
    point_to_point: bool
    cost: int | None = None
    bfd: bool = False


class BgpNeighborPlan(BaseModel):
    """A BGP session seen from one router: the neighbour's address, AS and what it is to this router."""

    node: str
    address: str
    asn: int
    family: Literal["ipv4", "ipv6"]
    ibgp: bool
    source: str | None = None    # update-source: "lo" for sessions between loopbacks
    multihop: bool = False
    relationship: Literal["customer", "provider", "peer"] | None = None   # the neighbour is our customer, ...
    accept: list[str] | None = None      # prefix filter: only these (and nothing else) are accepted
    prepend: int = 0
    bfd: bool = False
    remote_as: int | None = None         # configured instead of asn: the topology misconfigures the session


class AnnouncementPlan(BaseModel):
    prefix: str
    communities: list[str] = []
    blackhole: bool = False      # not a connected subnet: a blackhole route lets BGP originate it (an aggregate)


class RoutingPlan(BaseModel):
    """A router's FRR configuration as data: what the frr service's templates render."""

    router_id: str
    asn: int | None = None
    ospf: list[OspfInterfacePlan] = []
    ospf6: list[OspfInterfacePlan] = []
    neighbors: list[BgpNeighborPlan] = []
    announce: list[AnnouncementPlan] = []
    rov: bool = False
    rpki_cache: str | None = None        # "address port" of the lab's RTR server
    rpki_refresh_s: float = 1.0
    bgp_keepalive_s: float = 3.0
    bgp_hold_s: float = 9.0
    bgp_connect_retry_s: float = 1.0
    bgp_mrai_s: float = 0.0
    ospf_hello_s: float = 1.0
    ospf_dead_s: float = 4.0
    ospf_spf_delay_s: float = 0.05
    bfd_interval_s: float = 0.1
    bfd_multiplier: int = 3


class RoaPlan(BaseModel):
    prefix: str
    asn: int
    max_length: int


class NodePlan(BaseModel):
    name: str
    kind: NodeKind
    interfaces: list[InterfacePlan] = []
    loopback: list[str] = []     # addresses on lo, e.g. "10.254.0.1/32"
    routes: list[RoutePlan] = []
    sysctls: dict[str, str] = {}
    routing: RoutingPlan | None = None   # a router running FRR
    services: list[ServicePlan] = []

    def interface(self, name: str) -> InterfacePlan:
        return next(i for i in self.interfaces if i.name == name)

    def service(self, name: str) -> ServicePlan | None:
        return next((s for s in self.services if s.name == name), None)

    def service_named(self, name: str) -> ServicePlan:
        """The service, or a LabError saying which the node runs."""
        if (found := self.service(name)) is None:
            running = ", ".join(s.name for s in self.services) or "none"
            raise LabError(f"{self.name} runs no service '{name}' (its services: {running})")
        return found

    def networks(self) -> list[tuple[str, IPv4Network | IPv6Network]]:
        """(interface, subnet) for each of its addresses, loopbacks ("lo") first: what it is connected to."""
        found = [("lo", a) for a in self.loopback]
        found += [(i.name, a) for i in self.interfaces for a in (i.ipv4, i.ipv6) if a]
        return [(name, ip_interface(a).network) for name, a in found]

    def addresses(self) -> list[str]:
        """Every address of the node without prefix length, loopbacks first."""
        found = [a for a in self.loopback]
        for intf in self.interfaces:
            found += [a for a in (intf.ipv4, intf.ipv6) if a]
        return [a.split("/")[0] for a in found]


class BurstLoss(BaseModel):
    """Gilbert-Elliott loss: a good and a bad state. Each packet, the good state turns bad with probability p and
    the bad state good with probability r; a packet is lost with the loss probability of the state it meets."""

    p_pct: float
    r_pct: float
    bad_loss_pct: float = 100.0
    good_loss_pct: float = 0.0

    def describe(self) -> str:
        return (f"bursty loss (p {self.p_pct:g}%, r {self.r_pct:g}%"
                + (f", {self.bad_loss_pct:g}% in bursts" if self.bad_loss_pct != 100 else "")
                + (f", {self.good_loss_pct:g}% between" if self.good_loss_pct else "") + ")")


Aqm = Literal["none", "codel", "fq_codel", "red", "prio"]   # prio: htb classes, ICMP first


class Shaping(BaseModel):
    """One direction of a link, in canonical units: what its sender's packets meet on the way to the other end.
    Packets are lost (loss or burst_loss), wait in a queue of queue_packets or queue_bytes managed by `aqm`, leave
    it at rate_bps, and arrive delay_ms (± jitter_ms) later."""

    rate_bps: int | None = None
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    burst_loss: BurstLoss | None = None
    queue_packets: int | None = None
    queue_bytes: int | None = None
    aqm: Aqm | None = None                    # None and "none": tail drop
    aqm_target_ms: float | None = None        # CoDel's target and interval (default 5 ms and 100 ms)
    aqm_interval_ms: float | None = None

    def is_shaped(self) -> bool:
        return any(v is not None for _, v in self)

    def describe(self) -> str:
        """'10 Mbit/s, 5 ms ± 1 ms, 1% loss, queue 50, fq_codel', or 'no shaping'."""
        parts = []
        if self.rate_bps:
            parts.append(format_rate(self.rate_bps))
        if self.delay_ms:
            parts.append(format_duration(self.delay_ms / 1000)
                         + (f" ± {format_duration(self.jitter_ms / 1000)}" if self.jitter_ms else ""))
        if self.loss_pct:
            parts.append(f"{self.loss_pct:g}% loss")
        if self.burst_loss:
            parts.append(self.burst_loss.describe())
        if self.queue_packets:
            parts.append(f"queue {self.queue_packets}")
        if self.queue_bytes:
            parts.append(f"queue {self.queue_bytes} bytes")
        if self.aqm and self.aqm != "none":
            parts.append(self.aqm)
        return ", ".join(parts) or "no shaping"


class LinkPlan(BaseModel):
    a: str                       # "node:interface"
    b: str
    forward: Shaping = Shaping()     # what a sends to b
    reverse: Shaping = Shaping()     # what b sends to a

    def ends(self) -> list[tuple[str, str]]:
        return [tuple(end.split(":")) for end in (self.a, self.b)]

    def label(self) -> str:
        return f"{self.a.split(':')[0]}-{self.b.split(':')[0]}"

    def directions(self) -> list[tuple[tuple[str, str], tuple[str, str], Shaping]]:
        """(sender end, receiver end, shaping) for a -> b, then b -> a."""
        a, b = self.ends()
        return [(a, b, self.forward), (b, a, self.reverse)]

    def is_shaped(self) -> bool:
        return self.forward.is_shaped() or self.reverse.is_shaped()

    def describe(self) -> str:
        """'10 Mbit/s, 20 ms' if both directions are alike, else 'r1 -> r2: ...; r2 -> r1: ...'."""
        if self.forward == self.reverse:
            return self.forward.describe()
        return "; ".join(f"{s[0]} -> {r[0]}: {shaping.describe()}" for s, r, shaping in self.directions())


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
    files: list[FilePlan] = []   # every node gets these (/etc/hosts, /etc/resolv.conf)
    impair_backend: Literal["auto", "kernel", "emulator"] = "auto"
    roas: list[RoaPlan] = []

    def node(self, name: str) -> NodePlan:
        return self.nodes[name]

    def node_named(self, name: str) -> NodePlan:
        """The node, or a LabError naming the nodes there are."""
        if name not in self.nodes:
            raise LabError(f"lab '{self.name}' has no node '{name}'; nodes: {', '.join(self.nodes)}")
        return self.nodes[name]

    def owners(self) -> dict[str, str]:
        """Which node owns each address of the lab (without prefix length)."""
        return {a: n.name for n in self.nodes.values() for a in n.addresses()}

    def links_between(self, a: str, b: str) -> list[int]:
        """Indexes of the links between nodes a and b."""
        return [i for i, link in enumerate(self.links) if {e[0] for e in link.ends()} == {a, b}]

    def service_levels(self, nodes: list[str] | None = None) -> list[list[tuple[str, ServicePlan]]]:
        """The services of `nodes` (default: all) as (node, service) in start order: a service's level comes
        after those of the services it names in `after` (any node's)."""
        after = {s.name: set(s.after) for n in self.nodes.values() for s in n.services}
        placed: dict[str, int] = {}
        while len(placed) < len(after):
            ready = {name for name in set(after) - set(placed) if all(b in placed for b in after[name] & set(after))}
            if not ready:
                raise ValueError(f"services wait for each other: {', '.join(sorted(set(after) - set(placed)))}")
            for name in ready:
                placed[name] = 1 + max((placed[b] for b in after[name] & set(after)), default=-1)
        levels: list[list[tuple[str, ServicePlan]]] = [[] for _ in range(max(placed.values(), default=-1) + 1)]
        for node in self.nodes.values():
            if nodes is None or node.name in nodes:
                for svc in node.services:
                    levels[placed[svc.name]].append((node.name, svc))
        return [level for level in levels if level]
