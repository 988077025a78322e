"""Static routes for a topology without a routing protocol: shortest paths (in router hops) to every subnet, and
hosts' routes to their gateways."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from labctl.plan import RoutePlan

COMPUTED_METRIC = 20


@dataclass
class Attachment:
    node: str
    dev: str
    address: str | None          # without prefix length


@dataclass
class Segment:
    """A subnet and the interfaces on it; a loopback is a segment with one attachment."""

    subnet: str
    attachments: list[Attachment]


def _router_distances(segment: Segment, adjacency: dict[str, list[tuple[str, Attachment, Attachment]]]) -> dict[str, int]:
    dist = {a.node: 0 for a in segment.attachments if a.node in adjacency}
    queue = deque(dist)
    while queue:
        here = queue.popleft()
        for neighbour, _, _ in adjacency[here]:
            if neighbour not in dist:
                dist[neighbour] = dist[here] + 1
                queue.append(neighbour)
    return dist


def _adjacency(routers: list[str], segments: list[Segment]) -> dict[str, list[tuple[str, Attachment, Attachment]]]:
    """Each router's neighbours (and the attachments joining them), in the order routers are declared."""
    order = {name: i for i, name in enumerate(routers)}
    adjacency: dict[str, list[tuple[str, Attachment, Attachment]]] = {r: [] for r in routers}
    for seg in segments:
        on_seg = [a for a in seg.attachments if a.node in adjacency and a.address]
        for mine in on_seg:
            adjacency[mine.node] += [(other.node, mine, other) for other in on_seg if other.node != mine.node]
    for links in adjacency.values():
        links.sort(key=lambda item: order[item[0]])
    return adjacency


def compute_routes(routers: list[str], segments: list[Segment]) -> dict[str, list[RoutePlan]]:
    """For each router, a route to every subnet it is not on, via a neighbour one hop closer.

    Ties go to the neighbour declared first, so the result is deterministic.
    """
    adjacency = _adjacency(routers, segments)
    routes: dict[str, list[RoutePlan]] = {r: [] for r in routers}
    for seg in segments:
        dist = _router_distances(seg, adjacency)
        for router in routers:
            if dist.get(router, 0) == 0:
                continue
            for neighbour, mine, theirs in adjacency[router]:
                if dist.get(neighbour) == dist[router] - 1:
                    routes[router].append(RoutePlan(dst=seg.subnet, via=theirs.address, dev=mine.dev,
                                                    metric=COMPUTED_METRIC, source="computed"))
                    break
    return routes


def host_routes(host: str, segments: list[Segment], routers: list[str]) -> list[RoutePlan]:
    """A host's default route, via the first router on the first of its segments that has one, and, where its
    segments have other routers, a route to each subnet that one of those is closer to (a LAN with two routers)."""
    mine = [(seg, a) for seg in segments for a in seg.attachments if a.node == host]
    gateways = [(a, g) for seg, a in mine for g in seg.attachments if g.node in routers and g.address]
    if not gateways:
        return []
    default = gateways[0]
    routes = [RoutePlan(dst="default", via=default[1].address, dev=default[0].dev, metric=COMPUTED_METRIC,
                        source="gateway")]
    if len(gateways) == 1:
        return routes
    adjacency = _adjacency(routers, segments)
    on = {seg.subnet for seg, _ in mine}
    for seg in segments:
        if seg.subnet in on:
            continue
        dist = _router_distances(seg, adjacency)
        best = min(gateways, key=lambda pair: dist.get(pair[1].node, len(routers) + 1))
        if best is not default and dist.get(best[1].node, len(routers) + 1) < dist.get(default[1].node,
                                                                                      len(routers) + 1):
            routes.append(RoutePlan(dst=seg.subnet, via=best[1].address, dev=best[0].dev, metric=COMPUTED_METRIC,
                                    source="computed"))
    return routes
