"""Changing a running lab's links: down and up (with the routes the kernel drops on the way down put back on the
way up, whoever added them), and new shaping. Every change is recorded in the lab's state."""
from __future__ import annotations

from socket import AF_INET, AF_INET6

from labctl.errors import LabError
from labctl.impair import tc
from labctl.kernel import netns
from labctl.kernel.probe import probe
from labctl.paths import netns_name
from labctl.plan import LinkPlan, Plan, Shaping
from labctl.runtime.backend import wait_until_up
from labctl.runtime.state import LabState, changing

_MAIN_TABLE, _PROTO_KERNEL = 254, 2


def links_between(lab: str, plan: Plan, a: str, b: str) -> list[int]:
    """Indexes of the links between nodes a and b; an error if there are none."""
    found = [i for i, link in enumerate(plan.links) if {e[0] for e in link.ends()} == {a, b}]
    if not found:
        raise LabError(f"no link between '{a}' and '{b}' in lab '{lab}'")
    return found


def _saved_routes(ipr: netns.Socket, index: int) -> list[dict]:
    """The routes out of interface `index` that the kernel removes when it goes down (not the connected ones,
    which come back with its addresses)."""
    saved = []
    for family in (AF_INET, AF_INET6):
        for msg in ipr.get_routes(family=family, table=_MAIN_TABLE):
            if msg.get_attr("RTA_OIF") != index or msg["proto"] == _PROTO_KERNEL:
                continue
            dst = msg.get_attr("RTA_DST")
            saved.append({"family": family, "dst": f"{dst}/{msg['dst_len']}" if dst else
                          ("0.0.0.0/0" if family == AF_INET else "::/0"),
                          "gateway": msg.get_attr("RTA_GATEWAY"), "priority": msg.get_attr("RTA_PRIORITY"),
                          "proto": msg["proto"], "scope": msg["scope"], "type": msg["type"]})
    return saved


def _restore(ipr: netns.Socket, index: int, routes: list[dict]) -> None:
    for route in routes:
        ipr.route("replace", oif=index, **{k: v for k, v in route.items() if v is not None})


def _plan_routes(plan: Plan, node: str, ifname: str) -> list[dict]:
    """The plan's routes out of an interface, for a link that went down outside labctl's knowledge."""
    return [{"family": AF_INET6 if ":" in r.via else AF_INET,
             "dst": ("::/0" if ":" in r.via else "0.0.0.0/0") if r.dst == "default" else r.dst,
             "gateway": r.via, "priority": r.metric} for r in plan.node(node).routes if r.dev == ifname]


def set_links(lab: str, plan: Plan, state: LabState, indexes: list[int], up: bool) -> None:
    """Both ends of each link down or up. Going down, the routes out of each end are saved in the state;
    coming up, they are put back once the carriers are up."""
    ends = [(node, ifname, plan.node(node).interface(ifname).index)
            for i in indexes for node, ifname in plan.links[i].ends()]
    sockets = {node: netns.socket(netns_name(lab, node)) for node, _, _ in ends}
    try:
        for node, ifname, index in ends:
            key = f"{node}:{ifname}"
            if not up and key not in state.saved_routes:
                state.saved_routes[key] = _saved_routes(sockets[node], index)
            sockets[node].link("set", index=index, state="up" if up else "down")
        if up:
            wait_until_up(lambda node: {m["index"]: m.get_attr("IFLA_OPERSTATE") for m in sockets[node].get_links()},
                          {node: [i for n, _, i in ends if n == node] for node in sockets})
            for node, ifname, index in ends:
                routes = state.saved_routes.pop(f"{node}:{ifname}", None)
                _restore(sockets[node], index, _plan_routes(plan, node, ifname) if routes is None else routes)
        state.links_down = sorted(set(state.links_down) - set(indexes) if up else set(state.links_down) | set(indexes))
    finally:
        for sock in sockets.values():
            sock.close()


def set_link(lab: str, a: str, b: str, up: bool) -> int:
    """Bring every link between nodes a and b down or up (both ends). Returns how many links changed."""
    with changing(lab) as (state, plan):
        indexes = links_between(lab, plan, a, b)
        set_links(lab, plan, state, indexes, up)
    return len(indexes)


def impair(lab: str, a: str, b: str, shaping: Shaping) -> int:
    """Replace the shaping of every link between a and b (both ends). Returns how many links changed."""
    if problems := tc.unsupported(shaping, probe()):
        raise LabError(f"cannot impair {a}-{b}: " + "; ".join(problems))
    with changing(lab) as (state, plan):
        indexes = links_between(lab, plan, a, b)
        for i in indexes:
            for node, ifname in plan.links[i].ends():
                with netns.socket(netns_name(lab, node)) as ipr:
                    tc.apply(ipr, netns_name(lab, node), ifname, shaping, probe(), replacing=True)
            state.impairments[i] = shaping
    return len(indexes)


def shaping_now(plan: Plan, state: LabState, index: int) -> Shaping:
    """A link's shaping as it is now: the last impairment, else the plan's."""
    return state.impairments.get(index, plan.links[index].shaping)


def live_links(plan: Plan, state: LabState) -> list[LinkPlan]:
    """The plan's links with their shaping as it is now."""
    return [link.model_copy(update={"shaping": shaping_now(plan, state, i)}) for i, link in enumerate(plan.links)]
