"""Static routes for a topology without a routing protocol: shortest paths (in router hops) to every subnet."""
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


def compute_routes(routers: list[str], segments: list[Segment]) -> dict[str, list[RoutePlan]]:
    """For each router, a route to every subnet it is not on, via a neighbour one hop closer.

    Ties go to the neighbour declared first, so the result is deterministic.
    """
    order = {name: i for i, name in enumerate(routers)}
    adjacency: dict[str, list[tuple[str, Attachment, Attachment]]] = {r: [] for r in routers}
    for seg in segments:
        on_seg = [a for a in seg.attachments if a.node in adjacency and a.address]
        for mine in on_seg:
            adjacency[mine.node] += [(other.node, mine, other) for other in on_seg if other.node != mine.node]
    for links in adjacency.values():
        links.sort(key=lambda item: order[item[0]])
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
