"""The lab's looking glass: each BGP router's best path to a prefix, or to every prefix it knows, read from FRR's
JSON (`show bgp ipv4 unicast PREFIX json`; `... json detail` for the whole table). `best_path` is the one reading
of a best path: the bgp_route assertion uses it too."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from labctl.errors import LabctlError, LabError
from labctl.plan import NodePlan, Plan, RoutingPlan
from labctl.runtime.frr import bgp_speakers, vtysh_json

Rpki = Literal["valid", "invalid", "notfound"]
_RPKI = {"valid": "valid", "invalid": "invalid", "not found": "notfound"}     # FRR's JSON says "not found"


def rpki_text(state: Rpki | None) -> str:
    """'valid', 'invalid', 'not found'; 'not checked' for None."""
    return {None: "not checked", "notfound": "not found"}.get(state, state)


class BestPath(BaseModel):
    prefix: str
    as_path: list[int]
    origin: int                          # the last AS of the path; the router's own for a route of its AS
    next_hop: str | None                 # an address; None when the router originates the route itself
    next_hop_node: str | None            # the node that owns that address
    rpki: Rpki | None                    # None: the router validates no origins (no RPKI cache connected)

    def path_text(self, short: bool = False) -> str:
        """'65002 65003', 'originated here' ('local'), or 'empty AS path' ('iBGP') for a route of its own AS from
        an iBGP peer."""
        if self.next_hop is None:
            return "local" if short else "originated here"
        return " ".join(map(str, self.as_path)) or ("iBGP" if short else "empty AS path")

    def hop(self, by_address: bool = False) -> str:
        return (self.next_hop if by_address else self.next_hop_node or self.next_hop) or "itself"

    def rpki_text(self) -> str:
        return rpki_text(self.rpki)

    def describe(self, by_address: bool = False) -> str:
        """'65003 65666 (origin AS 65666, next hop r3), RPKI invalid'; 'originated here (AS 65001)'."""
        if self.next_hop is None:
            text = f"originated here (AS {self.origin})"
        else:
            text = f"{self.path_text()} (origin AS {self.origin}, next hop {self.hop(by_address)})"
        return text + (f", RPKI {self.rpki_text()}" if self.rpki else "")


def best_path(paths: list[dict], prefix: str, asn: int, name_of: Callable[[str], str | None]) -> BestPath | None:
    """The best of a prefix's paths as FRR's JSON gives them (`paths` of `show bgp ... PREFIX json`), or None if
    none is best; `asn` is the router's own, `name_of` names the node of an address."""
    best = next((p for p in paths if (p.get("bestpath") or {}).get("overall")), None)
    if best is None:
        return None
    as_path = [asn for segment in best["aspath"]["segments"] for asn in segment["list"]]
    hops = best.get("nexthops", [])
    # an IPv6 path has its global next hop and the link-local one beside it: the global one names the neighbour
    hop = next((h["ip"] for h in hops if h.get("scope") != "link-local"), None)
    address = None if best.get("local") else hop
    return BestPath(prefix=prefix, as_path=as_path, origin=as_path[-1] if as_path else asn, next_hop=address,
                    next_hop_node=name_of(address) if address else None,
                    rpki=_RPKI.get(best.get("rpkiValidationState")))


def prefix_command(prefix: IPv4Network | IPv6Network) -> str:
    return f"show bgp ipv{prefix.version} unicast {prefix} json"


class RouterView(BaseModel):
    """What one BGP router says: its best paths (to the prefix asked about: one or none), or why it could not."""

    node: str
    asn: int
    paths: list[BestPath] = []
    error: str | None = None


def bgp_routers(plan: Plan) -> list[NodePlan]:
    found = [plan.node(name) for name in bgp_speakers(plan)]
    if not found:
        routers = ", ".join(n.name for n in plan.nodes.values() if n.kind == "router") or "none"
        raise LabError(f"lab '{plan.name}' has no BGP routers (routers with an asn); its routers: {routers}")
    return found


def look(lab: str, plan: Plan, prefix: IPv4Network | IPv6Network | None = None) -> list[RouterView]:
    """Every BGP router's best path to `prefix`, or (None) its best paths to every prefix it knows."""
    owners = plan.owners()

    def paths(node: NodePlan, routing: RoutingPlan) -> list[BestPath]:
        if prefix is not None:
            found = best_path(vtysh_json(lab, node.name, prefix_command(prefix), plan).get("paths", []),
                              str(prefix), routing.asn, owners.get)
            return [found] if found else []
        found = []
        for family in _families(routing):
            routes = vtysh_json(lab, node.name, f"show bgp {family} unicast json detail", plan).get("routes", {})
            # FRR 8.4's `json detail`: each prefix's list holds its header (prefix, advertisedTo), then its paths
            found += [p for key, entries in routes.items() if (p := best_path(entries[1:], key, routing.asn,
                                                                               owners.get))]
        return found

    def view(node: NodePlan) -> RouterView:
        try:
            return RouterView(node=node.name, asn=node.routing.asn, paths=paths(node, node.routing))
        except LabctlError as exc:                  # its FRR is down: say so, and show the others
            return RouterView(node=node.name, asn=node.routing.asn, error=str(exc))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(view, bgp_routers(plan)))


def _families(routing: RoutingPlan) -> list[str]:
    return sorted({n.family for n in routing.neighbors} |
                  {"ipv6" if ":" in a.prefix else "ipv4" for a in routing.announce})


def render(lab: str, views: list[RouterView], prefix: IPv4Network | IPv6Network | None = None) -> Table:
    """With a prefix: one row per router, its best path to it in full. Without: the overview, one row per prefix
    and one column per router, each cell the AS path that router uses. The overview is what a student compares:
    who has a prefix, through which ASes, where a filter stopped it, and (the origin column) whether two ASes
    originate it, a hijack; per-router tables would repeat every prefix once per router and hide exactly that.
    Next hops and RPKI states in full are what the prefix view adds."""
    if prefix is not None:
        table = Table(title=f"best paths to {prefix} in lab {lab}", title_justify="left")
        for column in ("router", "AS", "AS path", "origin AS", "next hop", "RPKI"):
            table.add_column(column)
        for v in views:
            if v.error or not v.paths:
                table.add_row(v.node, str(v.asn), f"[red]{escape(v.error)}[/]" if v.error else "[dim]no route[/]")
                continue
            p = v.paths[0]
            table.add_row(v.node, str(v.asn), p.path_text(), str(p.origin), p.hop(), _rpki_cell(p))
        return table
    table = Table(title=f"BGP in lab {lab}: the AS path of each router's best path", title_justify="left",
                  caption="local: originated by the router; iBGP: from a router of its AS; red: RPKI invalid, "
                          "or two origins", caption_justify="left")
    table.add_column("prefix", no_wrap=True)
    table.add_column("origin AS")
    for v in views:
        table.add_column(f"{v.node}\nAS {v.asn}")
    by_prefix = {v.node: {p.prefix: p for p in v.paths} for v in views}
    for key in sorted({p.prefix for v in views for p in v.paths}, key=lambda k: (ip_network(k).version, ip_network(k))):
        seen = [by_prefix[v.node].get(key) for v in views]
        origins = sorted({p.origin for p in seen if p})
        shown = ", ".join(map(str, origins))
        table.add_row(key, f"[red]{shown}[/]" if len(origins) > 1 else shown,
                      *[_path_cell(p) for p in seen])
    for v in views:
        if v.error:
            table.caption += f"\n[red]{v.node}: {escape(v.error)}[/]"
    return table


def _path_cell(path: BestPath | None) -> str:
    if path is None:
        return "[dim]-[/]"
    return f"[red]{path.path_text(short=True)}[/]" if path.rpki == "invalid" else path.path_text(short=True)


def _rpki_cell(path: BestPath) -> str:
    colour = {"valid": "green", "invalid": "red"}.get(path.rpki)
    return f"[{colour}]{path.rpki_text()}[/]" if colour else path.rpki_text()
