"""compile_plan: a validated Topology -> Plan (interfaces, addresses, routes). Pure: no kernel, no files."""
from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network, ip_address, ip_network

from labctl.errors import InputError
from labctl.plan import FIRST_IFINDEX, InterfacePlan, LinkPlan, NodePlan, Plan, RoutePlan, SubnetPlan
from labctl.topology import routing, system
from labctl.topology.addressing import Network, Pool, lan_prefix, number_ports
from labctl.topology.loader import Source
from labctl.topology.protocols import compile_routing
from labctl.topology.schema import Endpoint, Topology


@dataclass
class _Port:
    node: str
    iface: str
    endpoint: Endpoint
    loc: tuple


@dataclass
class _Segment:
    kind: str                       # "lan" | "p2p"
    name: str
    loc: tuple                      # where an explicit subnet would be written
    ipv4: Network | None = None
    ipv6: Network | None = None
    ports: list[_Port] = field(default_factory=list)


class _Compiler:
    def __init__(self, topo: Topology, source: Source | None):
        self.topo, self.source = topo, source
        self.errors: list[str] = []
        self.loopback6: Network | None = None     # the /64 router loopbacks are numbered in, when IPv6 is on
        self.order = {name: i for i, name in enumerate(topo.nodes)}

    def error(self, loc: tuple, message: str) -> None:
        where = ".".join(map(str, loc))
        self.errors.append(self.source.error(loc, message) if self.source else f"{where}: {message}")

    def kind(self, node: str) -> str:
        return self.topo.nodes[node].kind

    def interface_names(self) -> list[list[str]]:
        used = {n: set() for n in self.topo.nodes}
        for link in self.topo.links:
            for end in link.endpoints:
                if end.interface:
                    used[end.node].add(end.interface)
        names, counter = [], {n: 0 for n in self.topo.nodes}
        for link in self.topo.links:
            pair = []
            for end in link.endpoints:
                name = end.interface
                if not name:
                    while f"eth{counter[end.node]}" in used[end.node]:
                        counter[end.node] += 1
                    name = f"eth{counter[end.node]}"
                    used[end.node].add(name)
                pair.append(name)
            names.append(pair)
        return names

    def segments(self, ifnames: list[list[str]]) -> list[_Segment]:
        switches = [n for n in self.topo.nodes if self.kind(n) == "switch"]
        parent = {s: s for s in switches}

        def find(s: str) -> str:
            while parent[s] != s:
                s = parent[s]
            return s

        for link in self.topo.links:
            a, b = (e.node for e in link.endpoints)
            if a in parent and b in parent and find(a) != find(b):
                first, second = sorted((find(a), find(b)), key=self.order.get)
                parent[second] = first
        lans: dict[str, _Segment] = {}
        for s in switches:
            lan = lans.setdefault(find(s), _Segment("lan", f"lan {find(s)}", ("nodes", find(s), "subnet")))
            node = self.topo.nodes[s]
            for attr in ("ipv4", "ipv6"):
                explicit = node.subnet if attr == "ipv4" else node.ipv6_subnet
                if explicit and getattr(lan, attr) and explicit != getattr(lan, attr):
                    self.error(("nodes", s, "subnet" if attr == "ipv4" else "ipv6_subnet"),
                               f"{explicit} differs from {getattr(lan, attr)} set on another switch of the same LAN")
                elif explicit:
                    setattr(lan, attr, explicit)
                    lan.loc = ("nodes", s, "subnet")
        p2p = []
        for i, link in enumerate(self.topo.links):
            ends = link.endpoints
            ports = [_Port(e.node, ifnames[i][j], e, ("links", i, "endpoints", j)) for j, e in enumerate(ends)]
            switch_ends = [p for p in ports if p.node in parent]
            if len(switch_ends) == 1:
                other = next(p for p in ports if p.node not in parent)
                lans[find(switch_ends[0].node)].ports.append(other)
            elif not switch_ends:
                p2p.append(_Segment("p2p", f"link {ends[0].node}-{ends[1].node}", ("links", i, "subnet"),
                                    link.subnet, link.ipv6_subnet, ports))
        for lan in lans.values():
            lan.ports.sort(key=lambda p: (self.kind(p.node) != "router", self.order[p.node], p.iface))
        return [lan for lan in lans.values() if lan.ports] + p2p

    def address(self, segments: list[_Segment]) -> dict[tuple[str, str], dict[str, str]]:
        """Give each segment its subnets and each port its addresses: {(node, iface): {"ipv4": ..., "ipv6": ...}}."""
        ad = self.topo.addressing
        self.infer_subnets(segments)
        taken = [n for s in segments for n in (s.ipv4, s.ipv6) if n]
        taken += [ip_network(n.loopback.ip) for n in self.topo.nodes.values() if n.loopback]
        pools = {"lan": Pool(ad.lan, taken), "p2p": Pool(ad.p2p, taken)}
        pool6 = Pool(ad.ipv6, taken) if ad.ipv6 else None
        if pool6:
            self.loopback6 = pool6.take(64)   # the first free /64 holds router loopbacks
            if self.loopback6 is None:
                self.error(("addressing", "ipv6"), f"pool {ad.ipv6} has no free /64 left for loopbacks; "
                                                   "use a larger pool, e.g. a /48")
        result: dict[tuple[str, str], dict[str, str]] = {}
        for seg in segments:
            for attr in ("ipv4", "ipv6"):
                fixed = {k: str(getattr(p.endpoint, attr)) for k, p in enumerate(seg.ports) if getattr(p.endpoint, attr)}
                subnet = getattr(seg, attr)
                if subnet is None and attr == "ipv4":
                    prefix = ad.p2p_prefix if seg.kind == "p2p" else lan_prefix(ad.lan_prefix, len(seg.ports))
                    subnet = pools[seg.kind].take(prefix)
                    if subnet is None:
                        self.error(("addressing", seg.kind), f"pool {pools[seg.kind].network} has no free /{prefix} "
                                                             f"left for {seg.name}; use a larger pool")
                        continue
                elif subnet is None and pool6:
                    subnet = pool6.take(64)
                    if subnet is None:
                        self.error(("addressing", "ipv6"), f"pool {ad.ipv6} has no free /64 left for {seg.name}; "
                                                           "use a larger pool, e.g. a /48")
                        continue
                    if seg.kind == "p2p":
                        subnet = next(subnet.subnets(new_prefix=127))
                if subnet is None:
                    continue
                setattr(seg, attr, subnet)
                if not self.check_fixed(seg, attr):
                    continue
                addresses, problem = number_ports(subnet, fixed, len(seg.ports))
                if problem:
                    self.error(seg.loc, problem)
                for port, address in zip(seg.ports, addresses):
                    result.setdefault((port.node, port.iface), {})[attr] = address
        return result

    def infer_subnets(self, segments: list[_Segment]) -> None:
        """A segment without a subnet but with an endpoint address gets that address's subnet, before pools are carved
        (so no pool hands it out again)."""
        for seg in segments:
            for attr in ("ipv4", "ipv6"):
                port = next((p for p in seg.ports if getattr(p.endpoint, attr)), None)
                if getattr(seg, attr) or port is None:
                    continue
                subnet = getattr(port.endpoint, attr).network
                clash = next((o for o in segments if getattr(o, attr) and getattr(o, attr).overlaps(subnet)), None)
                if clash:
                    self.error(port.loc + (attr,), f"{subnet}, the subnet of this address, overlaps "
                                                   f"{getattr(clash, attr)} of {clash.name}; "
                                                   "use an address in a subnet of its own")
                setattr(seg, attr, subnet)

    def check_fixed(self, seg: _Segment, attr: str) -> bool:
        """Endpoint addresses must lie in the segment's subnet, each once."""
        subnet, ok, seen = getattr(seg, attr), True, {}
        for port in seg.ports:
            address = getattr(port.endpoint, attr)
            if address is None:
                continue
            if address.network != subnet:
                ok = False
                self.error(port.loc + (attr,), f"{address} is not in {subnet}, the subnet of {seg.name}; "
                                               f"use an address in {subnet} with prefix length /{subnet.prefixlen}")
            elif address.ip in seen:
                ok = False
                self.error(port.loc + (attr,), f"{address.ip} is already the address of {seen[address.ip]}; "
                                               "give each endpoint its own address")
            seen[address.ip] = f"{port.node}:{port.iface}"
        return ok

    def loopbacks(self, segments: list[_Segment]) -> dict[str, list[str]]:
        ad = self.topo.addressing
        pool = Pool(ad.loopback, [ip_network(ad.loopback.network_address)] +
                    [ip_network(n.loopback.ip) for n in self.topo.nodes.values() if n.loopback] +
                    [s.ipv4 for s in segments if s.ipv4])   # an explicit link subnet may lie in the loopback pool
        result: dict[str, list[str]] = {}
        routers = [n for n, node in self.topo.nodes.items() if node.kind == "router"]
        for index, name in enumerate(routers, start=1):
            explicit = self.topo.nodes[name].loopback
            v4 = explicit.ip if explicit else getattr(pool.take(32), "network_address", None)
            if v4 is None:
                self.error(("addressing", "loopback"), f"pool {ad.loopback} has no address left for {name}")
                continue
            result[name] = [f"{v4}/32"] + ([f"{self.loopback6.network_address + index}/128"] if self.loopback6 else [])
        return result

    def user_routes(self, name: str, segments: dict[str, list[routing.Segment]]) -> list[RoutePlan]:
        """The node's own `routes:`, with `via` resolved to a next-hop address and an interface."""
        routes = []
        for i, route in enumerate(self.topo.nodes[name].routes):
            family = "ipv4" if isinstance(route.dst, IPv4Network) else "ipv6"
            hop = None
            for seg in segments[family]:
                mine = next((a for a in seg.attachments if a.node == name), None)
                if mine is None:
                    continue
                if route.via in (a.node for a in seg.attachments if a.node != name):
                    hop = (next(a.address for a in seg.attachments if a.node == route.via), mine.dev)
                elif _in_subnet(route.via, seg.subnet):
                    hop = (route.via, mine.dev)
                if hop:
                    break
            if hop is None:
                near = sorted({a.node for s in segments[family] if any(x.node == name for x in s.attachments)
                               for a in s.attachments if a.node != name})
                self.error(("nodes", name, "routes", i, "via"),
                           f"'{route.via}' is neither a neighbour of {name} nor an address on one of its {family} "
                           f"subnets; neighbours: {', '.join(near) or 'none'}")
                continue
            routes.append(RoutePlan(dst=str(route.dst), via=hop[0], dev=hop[1], metric=route.metric,
                                    source="topology"))
        return routes


def _in_subnet(address: str, subnet: str) -> bool:
    try:
        return ip_address(address) in ip_network(subnet)
    except ValueError:
        return False


def compile_plan(topo: Topology, source: Source | None = None, name: str | None = None) -> Plan:
    """Interfaces, addresses and static routes for every node. Raises InputError on allocation problems."""
    comp = _Compiler(topo, source)
    ifnames = comp.interface_names()
    segments = comp.segments(ifnames)
    addresses = comp.address(segments)
    loopbacks = comp.loopbacks(segments)
    if comp.errors:
        raise InputError(comp.errors)

    ipv6 = any(seg.ipv6 for seg in segments)
    nodes = {n: NodePlan(name=n, kind=node.kind, loopback=loopbacks.get(n, []), sysctls=system.sysctls(node.kind, ipv6))
             for n, node in topo.nodes.items()}
    links = []
    for i, link in enumerate(topo.links):
        ends = [f"{e.node}:{ifnames[i][j]}" for j, e in enumerate(link.endpoints)]
        forward, reverse = link.directions(link.endpoints[0].node, link.endpoints[1].node)
        links.append(LinkPlan(a=ends[0], b=ends[1], forward=forward, reverse=reverse))
        for j, end in enumerate(link.endpoints):
            addr = addresses.get((end.node, ifnames[i][j]), {})
            nodes[end.node].interfaces.append(InterfacePlan(
                name=ifnames[i][j], index=FIRST_IFINDEX + len(nodes[end.node].interfaces), peer=ends[1 - j], link=i,
                mtu=link.mtu, **addr))

    by_family: dict[str, list[routing.Segment]] = {"ipv4": [], "ipv6": []}
    subnets = []
    for seg in segments:
        subnets.append(SubnetPlan(name=seg.name, kind=seg.kind, ipv4=seg.ipv4 and str(seg.ipv4),
                                  ipv6=seg.ipv6 and str(seg.ipv6)))
        for family in by_family:
            if getattr(seg, family):
                by_family[family].append(routing.Segment(str(getattr(seg, family)), [
                    routing.Attachment(p.node, p.iface, addresses[(p.node, p.iface)][family].split("/")[0])
                    for p in seg.ports]))
    for router, addrs in loopbacks.items():
        subnets.append(SubnetPlan(name=f"loopback {router}", kind="loopback", ipv4=addrs[0],
                                  ipv6=addrs[1] if len(addrs) > 1 else None))
        for family, address in zip(by_family, addrs):
            by_family[family].append(routing.Segment(address, [routing.Attachment(router, "lo", None)]))

    plan = Plan(name=name or topo.name, source=source.path if source else None, nodes=nodes, links=links,
                subnets=subnets, files=system.lab_files(nodes), impair_backend=topo.impair_backend)
    compile_routing(topo, plan, comp.error)
    routers = [n for n, node in topo.nodes.items() if node.kind == "router"]
    for family, segs in by_family.items():
        for router, routes in routing.compute_routes(routers, segs).items():
            if topo.nodes[router].auto_routes and nodes[router].routing is None:
                nodes[router].routes += routes
        for n, node in topo.nodes.items():
            if node.kind == "host" and node.auto_routes:
                nodes[n].routes += routing.host_routes(n, segs, routers)
    for n in topo.nodes:
        nodes[n].routes += comp.user_routes(n, by_family)
    if comp.errors:
        raise InputError(comp.errors)

    system.render_services(topo, plan)
    return plan
