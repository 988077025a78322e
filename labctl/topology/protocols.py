"""Dynamic routing, compiled: each router's RoutingPlan (OSPF interfaces, BGP sessions with their Gao-Rexford
roles and filters, announcements, RPKI) from the topology's routing keys and the plan's interfaces and addresses.

Defaults make a lab work with only `asn` set: eBGP on every link between routers of different ASes, iBGP between
the loopbacks of an AS's routers with OSPF inside the AS to reach them, and each router announcing the loopbacks
and the subnets of LANs with hosts of its AS (and what its `announce:` adds)."""
from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_interface

from labctl.plan import AnnouncementPlan, BgpNeighborPlan, OspfInterfacePlan, Plan, RoaPlan, RoutingPlan
from labctl.topology.routing_schema import Ospf
from labctl.topology.schema import Link, Topology

_INVERSE = {"provider": "customer", "customer": "provider", "peer": "peer"}
_ROUTER_KEYS = ("asn", "router_id", "ospf", "rov")


class _Protocols:
    def __init__(self, topo: Topology, plan: Plan, error: Callable[[tuple, str], None]):
        self.topo, self.plan, self.error = topo, plan, error
        self.routers = [n for n, node in topo.nodes.items() if node.kind == "router"]
        self.asn = {n: topo.nodes[n].asn for n in self.routers if topo.nodes[n].asn}
        self.ospf = {n: self.ospf_of(n) for n in self.routers}
        self.cone_filters: list[tuple[str, str, str]] = []     # (router, neighbour, family)

    def ospf_of(self, name: str):
        """The router's OSPF settings: its own, or the default IGP of an AS with several routers."""
        node = self.topo.nodes[name]
        if node.ospf or node.asn is None:
            return node.ospf
        return Ospf() if sum(asn == node.asn for asn in self.asn.values()) > 1 else None

    def same_domain(self, a: str, b: str) -> bool:
        """Two routers that are OSPF neighbours: both run OSPF, in the same AS (or neither has one)."""
        return bool(self.ospf.get(a) and self.ospf.get(b)) and self.asn.get(a) == self.asn.get(b)

    def check_keys(self) -> None:
        for name, node in self.topo.nodes.items():
            written = [k for k in _ROUTER_KEYS if getattr(node, k) not in (None, False)]
            written += ["announce"] if node.announce else []
            written += ["bgp"] if node.bgp.neighbors else []
            if node.kind != "router":
                for key in written:
                    self.error(("nodes", name, key), f"'{key}' is a router's routing key; {name} is a {node.kind}")
                continue
            for key in ("announce", "rov", "bgp"):
                if key in written and node.asn is None:
                    self.error(("nodes", name, key), f"'{key}' is about BGP: give {name} an `asn` first")
            if node.rov and self.topo.rpki is None:
                self.error(("nodes", name, "rov"), "rov needs the lab's RPKI: add a top-level `rpki:` with a "
                                                   "validator host and roas")
            if self.ospf[name]:
                names = {i.name for i in self.plan.nodes[name].interfaces}
                for k, ifname in enumerate(self.ospf[name].passive):
                    if ifname not in names:
                        self.error(("nodes", name, "ospf", "passive", k),
                                   f"{name} has no interface '{ifname}'; its interfaces: {', '.join(sorted(names))}")
            for k, neighbor in enumerate(node.bgp.neighbors):
                if neighbor.node not in self.asn or neighbor.node == name:
                    others = ", ".join(r for r in self.asn if r != name) or "none"
                    self.error(("nodes", name, "bgp", "neighbors", k, "node"),
                               f"'{neighbor.node}' is not another router with an asn; those are: {others}")

    def check_link(self, i: int, link: Link) -> None:
        """A link's routing keys are between two routers (BGP ones between two ASes)."""
        names = [e.node for e in link.endpoints]
        keys = [k for k in ("relationship", "cost", "prefix_filter", "prepend") if getattr(link, k)]
        keys += ["bfd"] if link.bfd else []
        if not all(n in self.routers for n in names):
            for key in keys:
                self.error(("links", i, key), f"'{key}' is a key of a link between two routers; "
                                              f"{' and '.join(names)} are not both routers")
            return
        for key in ("relationship", "prefix_filter", "prepend"):
            if key in keys and not (names[0] in self.asn and names[1] in self.asn and
                                    self.asn[names[0]] != self.asn[names[1]]):
                self.error(("links", i, key), f"'{key}' is about eBGP: {' and '.join(names)} need an asn each, "
                                              "and different ones")
        if link.cost and not self.same_domain(*names):
            self.error(("links", i, "cost"), f"an OSPF cost needs OSPF on both {' and '.join(names)} (in one AS)")
        for end in link.prepend:
            if end not in names:
                self.error(("links", i, "prepend", end), f"'{end}' is not an end of this link ({' or '.join(names)})")
        if link.prefix_filter and link.relationship is None:
            self.error(("links", i, "prefix_filter"), "a prefix filter needs the link's relationship (provider, "
                                                      "customer or peer): it says which end filters")

    def ospf_interfaces(self, name: str, family: str) -> list[OspfInterfacePlan]:
        node, settings = self.plan.nodes[name], self.ospf[name]
        area, found = str(settings.area), []
        for intf in node.interfaces:
            if getattr(intf, family) is None:
                continue
            link = self.topo.links[intf.link]
            neighbours = self.routers_on(name, intf.name, family)
            ospf_neighbours = [n for n in neighbours if self.same_domain(name, n)]
            if neighbours and not ospf_neighbours:
                continue                   # a link to another AS (or to a router without OSPF): BGP's, not OSPF's
            peer = intf.peer.split(":")[0]
            found.append(OspfInterfacePlan(
                name=intf.name, area=area, passive=not ospf_neighbours or intf.name in settings.passive,
                point_to_point=self.topo.nodes[peer].kind != "switch", cost=link.cost, bfd=link.bfd))
        if any(a for a in node.loopback if (":" in a) == (family == "ipv6")):
            found.append(OspfInterfacePlan(name="lo", area=area, passive=True, point_to_point=False))
        return found

    def nodes_on(self, name: str, ifname: str, family: str) -> list[str]:
        """The other nodes with an address on the subnet of this interface, in plan order."""
        subnet = ip_interface(getattr(self.plan.nodes[name].interface(ifname), family)).network
        return [other.name for other in self.plan.nodes.values() if other.name != name and any(
            getattr(i, family) and ip_interface(getattr(i, family)).network == subnet for i in other.interfaces)]

    def routers_on(self, name: str, ifname: str, family: str) -> list[str]:
        return [n for n in self.nodes_on(name, ifname, family) if n in self.routers]

    def address_on(self, node: str, subnet_of: str, family: str) -> str | None:
        """node's address on the subnet of the interface address `subnet_of`."""
        subnet = ip_interface(subnet_of).network
        return next((ip_interface(getattr(i, family)).ip.compressed for i in self.plan.nodes[node].interfaces
                     if getattr(i, family) and ip_interface(getattr(i, family)).network == subnet), None)

    def loopback(self, node: str, family: str) -> str | None:
        return next((a.split("/")[0] for a in self.plan.nodes[node].loopback if (":" in a) == (family == "ipv6")),
                    None)

    def announcements(self, name: str) -> list[AnnouncementPlan]:
        node, plan_node = self.topo.nodes[name], self.plan.nodes[name]
        connected = {network for _, network in plan_node.networks()}
        found = []
        for router in [r for r, asn in self.asn.items() if asn == self.asn[name]]:
            found += [str(ip_interface(a).network) for a in self.plan.nodes[router].loopback]
            for intf in self.plan.nodes[router].interfaces:
                for family in ("ipv4", "ipv6"):
                    if getattr(intf, family) and self.has_hosts(router, intf.name, family):
                        found.append(str(ip_interface(getattr(intf, family)).network))
        # Every router of an AS originates the AS's own prefixes (reached through OSPF inside it): a prefix learnt
        # over iBGP whose next hop is inside it (a router's loopback) would not resolve, as FRR rules
        written = {str(a.prefix): a for a in node.announce}
        return [AnnouncementPlan(prefix=p) for p in dict.fromkeys(found) if p not in written] + \
            [AnnouncementPlan(prefix=str(a.prefix), communities=a.communities, blackhole=a.prefix not in connected)
             for a in node.announce]

    def has_hosts(self, name: str, ifname: str, family: str) -> bool:
        return any(self.plan.nodes[n].kind == "host" for n in self.nodes_on(name, ifname, family))

    def neighbors(self, name: str) -> list[BgpNeighborPlan]:
        found: list[BgpNeighborPlan] = []
        mine = self.asn[name]
        for intf in self.plan.nodes[name].interfaces:
            link = self.topo.links[intf.link]
            ends = [e.node for e in link.endpoints]
            for family in ("ipv4", "ipv6"):
                if getattr(intf, family) is None:
                    continue
                for other in self.routers_on(name, intf.name, family):
                    if other not in self.asn or self.asn[other] == mine:
                        continue
                    role = None
                    if link.relationship and other in ends:
                        role = link.relationship if ends[1] == name else _INVERSE[link.relationship]
                    accept = None
                    if link.prefix_filter and role in ("customer", "peer"):
                        accept = [str(p) for p in link.prefix_filter] if isinstance(link.prefix_filter, list) \
                            else []
                    if link.prefix_filter is True and accept is not None:
                        self.cone_filters.append((name, other, family))   # filled once announcements are known
                    found.append(BgpNeighborPlan(
                        node=other, address=self.address_on(other, getattr(intf, family), family), asn=self.asn[other],
                        family=family, ibgp=False, relationship=role, accept=accept,
                        prepend=link.prepend.get(name, 0) if other in ends else 0, bfd=link.bfd))
        peers = [r for r, asn in self.asn.items() if asn == mine and r != name] \
            if self.topo.nodes[name].bgp.ibgp == "full-mesh" else []
        explicit = {n.node: n for n in self.topo.nodes[name].bgp.neighbors}
        for other in peers + [n for n in explicit if n not in peers and n not in {f.node for f in found}]:
            ibgp = self.asn[other] == mine
            for family in ("ipv4", "ipv6"):
                address = self.loopback(other, family)
                if address and self.loopback(name, family):
                    found.append(BgpNeighborPlan(node=other, address=address, asn=self.asn[other], family=family,
                                                 ibgp=ibgp, source="lo", multihop=not ibgp))
        for session in (s for s in found if s.node in explicit):
            session.remote_as = explicit[session.node].remote_as
        return found

    def router_plan(self, name: str) -> RoutingPlan | None:
        node = self.topo.nodes[name]
        if name not in self.asn and not self.ospf[name]:
            return None
        timers = self.topo.routing
        rpki = self.topo.rpki
        return RoutingPlan(
            router_id=str(node.router_id or self.loopback(name, "ipv4")), asn=self.asn.get(name),
            ospf=self.ospf_interfaces(name, "ipv4") if self.ospf[name] else [],
            ospf6=self.ospf_interfaces(name, "ipv6") if self.ospf[name] else [],
            neighbors=self.neighbors(name) if name in self.asn else [],
            announce=self.announcements(name) if name in self.asn else [], rov=node.rov,
            rpki_cache=f"{self.plan.nodes[rpki.validator].addresses()[0]} {rpki.port}"
            if rpki and name in self.asn and rpki.validator in self.plan.nodes else None,
            rpki_refresh_s=rpki.refresh if rpki else 1.0,
            bgp_keepalive_s=timers.bgp.keepalive, bgp_hold_s=timers.bgp.hold,
            bgp_connect_retry_s=timers.bgp.connect_retry, bgp_mrai_s=timers.bgp.advertisement_interval,
            ospf_hello_s=timers.ospf.hello, ospf_dead_s=timers.ospf.dead, ospf_spf_delay_s=timers.ospf.spf_delay,
            bfd_interval_s=timers.bfd.interval, bfd_multiplier=timers.bfd.multiplier)

    def roas(self) -> list[RoaPlan]:
        rpki = self.topo.rpki
        if rpki is None:
            return []
        if rpki.validator not in self.topo.nodes or self.topo.nodes[rpki.validator].kind != "host":
            hosts = ", ".join(n for n, node in self.topo.nodes.items() if node.kind == "host") or "none"
            self.error(("rpki", "validator"), f"'{rpki.validator}' is not a host of the lab; hosts: {hosts}")
        found = []
        for k, roa in enumerate(rpki.roas):
            if roa.asn not in self.asn.values():
                known = ", ".join(map(str, sorted(set(self.asn.values())))) or "none"
                self.error(("rpki", "roas", k, "asn"), f"AS {roa.asn} is no router's asn; the lab's ASes: {known}")
            longest = roa.prefix.max_prefixlen
            max_length = roa.max_length if roa.max_length is not None else roa.prefix.prefixlen
            if not roa.prefix.prefixlen <= max_length <= longest:
                self.error(("rpki", "roas", k, "max_length"), f"max_length {max_length} must lie between the "
                                                              f"prefix's length ({roa.prefix.prefixlen}) and {longest}")
            found.append(RoaPlan(prefix=str(roa.prefix), asn=roa.asn, max_length=max_length))
        return found


def compile_routing(topo: Topology, plan: Plan, error: Callable[[tuple, str], None]) -> None:
    """Fill each router's `routing` (None: no routing protocol, static routes as before) and the plan's ROAs;
    problems go to `error(loc, message)`."""
    protocols = _Protocols(topo, plan, error)
    protocols.check_keys()
    for i, link in enumerate(topo.links):
        protocols.check_link(i, link)
    plan.roas = protocols.roas()
    for name in protocols.routers:
        plan.nodes[name].routing = protocols.router_plan(name)
    cones = customer_cones(plan)
    for router, other, family in protocols.cone_filters:
        for n in plan.nodes[router].routing.neighbors:
            if n.node == other and n.family == family:
                n.accept = sorted(p for p in cones[n.asn] if (":" in p) == (family == "ipv6"))


def customer_cones(plan: Plan) -> dict[int, set[str]]:
    """Each AS's customer cone: the prefixes it and its customers (and theirs) originate, from the plan's
    announcements and relationships; what a prefix filter on a customer or peer accepts."""
    own: dict[int, set[str]] = {}
    customers: dict[int, set[int]] = {}
    for node in plan.nodes.values():
        if node.routing and node.routing.asn:
            own.setdefault(node.routing.asn, set()).update(a.prefix for a in node.routing.announce)
            customers.setdefault(node.routing.asn, set()).update(
                n.asn for n in node.routing.neighbors if n.relationship == "customer")

    def cone(asn: int, seen: set[int]) -> set[str]:
        seen.add(asn)
        found = set(own[asn])
        for customer in customers[asn] - seen:
            found |= cone(customer, seen)
        return found
    return {asn: cone(asn, set()) for asn in own}

