"""Changing a running lab's links: down and up (with the routes the kernel drops on the way down put back on the
way up, whoever added them), and new shaping. Every change is recorded in the lab's state."""
from __future__ import annotations

from socket import AF_INET, AF_INET6

from labctl.errors import LabError
from labctl.kernel import netns
from labctl.kernel.probe import probe
from labctl.paths import netns_name
from labctl.plan import LinkPlan, Plan
from labctl.runtime import impairments
from labctl.runtime.backend import KernelBackend, wait_until_up
from labctl.runtime.state import LabState, SavedRoute, changing
from labctl.topology.shaping import LinkShaping

_MAIN_TABLE, _PROTO_KERNEL = 254, 2
_DEFAULT = {AF_INET: "0.0.0.0/0", AF_INET6: "::/0"}


def links_between(lab: str, plan: Plan, a: str, b: str) -> list[int]:
    """Indexes of the links between nodes a and b; an error if there are none."""
    found = plan.links_between(a, b)
    if not found:
        raise LabError(f"no link between '{a}' and '{b}' in lab '{lab}'")
    return found


def _saved_routes(ipr: netns.Socket, index: int) -> list[SavedRoute]:
    """The routes out of interface `index` that the kernel removes when it goes down (not the connected ones,
    which come back with its addresses)."""
    saved = []
    for family in (AF_INET, AF_INET6):
        for msg in ipr.get_routes(family=family, table=_MAIN_TABLE):
            if msg.get_attr("RTA_OIF") != index or msg["proto"] == _PROTO_KERNEL:
                continue
            dst = msg.get_attr("RTA_DST")
            saved.append(SavedRoute(family=family, dst=f"{dst}/{msg['dst_len']}" if dst else _DEFAULT[family],
                                    gateway=msg.get_attr("RTA_GATEWAY"), priority=msg.get_attr("RTA_PRIORITY"),
                                    proto=msg["proto"], scope=msg["scope"], type=msg["type"]))
    return saved


def _plan_routes(plan: Plan, node: str, ifname: str) -> list[SavedRoute]:
    """The plan's routes out of an interface, for a link that went down outside labctl's knowledge."""
    found = []
    for route in plan.node(node).routes:
        if route.dev == ifname:
            family = AF_INET6 if ":" in route.via else AF_INET
            found.append(SavedRoute(family=family, dst=_DEFAULT[family] if route.dst == "default" else route.dst,
                                    gateway=route.via, priority=route.metric))
    return found


def set_links(lab: str, plan: Plan, state: LabState, indexes: list[int], up: bool) -> None:
    """Both ends of each link down or up, the state following link by link. Going down, the routes out of each
    end are saved in the state; coming up, they are put back once the carriers are up, and only then is the
    link no longer recorded as down (so that a failure on the way can be mended by bringing it up again)."""
    ends = {i: [(node, ifname, plan.node(node).interface(ifname).index) for node, ifname in plan.links[i].ends()]
            for i in indexes}
    sockets: dict[str, netns.Socket] = {}
    try:
        for node, _, _ in (end for pair in ends.values() for end in pair):
            if node not in sockets:
                sockets[node] = netns.socket(netns_name(lab, node))
        for i, pair in ends.items():
            for node, ifname, index in pair:
                if not up and f"{node}:{ifname}" not in state.saved_routes:      # not already down
                    state.saved_routes[f"{node}:{ifname}"] = _saved_routes(sockets[node], index)
                sockets[node].link("set", index=index, state="up" if up else "down")
            if not up:
                state.links_down = sorted(set(state.links_down) | {i})
        if up:
            wait_until_up(lambda node: {m["index"]: m.get_attr("IFLA_OPERSTATE") for m in sockets[node].get_links()},
                          {node: [idx for pair in ends.values() for n, _, idx in pair if n == node] for node in sockets})
            for i, pair in ends.items():
                for node, ifname, index in pair:
                    routes = state.saved_routes.get(f"{node}:{ifname}")
                    for route in _plan_routes(plan, node, ifname) if routes is None else routes:
                        sockets[node].route("replace", oif=index, **route.model_dump(exclude_none=True))
                    state.saved_routes.pop(f"{node}:{ifname}", None)
                state.links_down = [d for d in state.links_down if d != i]
    finally:
        for sock in sockets.values():
            sock.close()


def set_link(lab: str, a: str, b: str, up: bool) -> int:
    """Bring every link between nodes a and b down or up (both ends). Returns how many links changed."""
    with changing(lab) as (state, plan):
        indexes = links_between(lab, plan, a, b)
        set_links(lab, plan, state, indexes, up)
    return len(indexes)


def impair(lab: str, a: str, b: str, conditions: LinkShaping, only: str | None = None) -> list[int]:
    """New conditions for every link between a and b (what is not given: none); with `only` (a or b), for what
    that end sends, the other direction kept as it is. Returns the links' indexes."""
    with changing(lab) as (state, plan):
        links = {}
        for i in links_between(lab, plan, a, b):
            link = state.impairments.get(i, plan.links[i])
            sender = link.ends()[0][0]
            forward, reverse = conditions.directions(sender, link.ends()[1][0])
            update = {"forward": forward, "reverse": reverse} if only is None else \
                {"forward": forward} if only == sender else {"reverse": reverse}
            links[i] = link.model_copy(update=update)
        impairments.shape_links(KernelBackend(), lab, plan, state, links, probe())
    return list(links)


def live_links(plan: Plan, state: LabState) -> list[LinkPlan]:
    """The plan's links with their conditions as they are now."""
    return [state.impairments.get(i, link) for i, link in enumerate(plan.links)]
