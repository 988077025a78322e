"""Running labs by name: bring up, tear down, inspect, and the changes faults make to nodes and services."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from labctl import paths
from labctl.errors import LabError
from labctl.impair import tc
from labctl.impair.choose import Placement
from labctl.kernel import cgroups, netns, processes
from labctl.paths import netns_name
from labctl.plan import Plan, ServicePlan
from labctl.runtime import impairments, services
from labctl.runtime.backend import KernelBackend
from labctl.runtime.build import Progress, build, destroy, no_interrupt
from labctl.runtime.links import impair, live_links, set_link, set_links
from labctl.runtime.state import LabState, ShapedDirection, changing, created, list_labs, load

__all__ = ["clean", "down", "impair", "kill", "list_labs", "service_restart", "service_start", "service_stop",
           "set_link", "start_node", "status", "stop_node", "up"]


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise LabError(f"{action} needs root (labs are network namespaces): run `sudo labctl ...` "
                       "or become root first")


def up(plan: Plan, progress: Progress = lambda *_: None) -> LabState:
    require_root("labctl up")
    return build(plan, progress)


def down(lab: str) -> None:
    require_root("labctl down")
    if lab not in list_labs() and not (paths.STATE_DIR / lab).is_dir():
        load(lab)                                   # says there is no such lab
    _not_from_inside(lab)
    with no_interrupt():
        destroy(lab)


def _not_from_inside(lab: str) -> None:
    """A labctl run from a node's shell would end itself halfway through removing that node's lab."""
    inside = cgroups.lab_group(lab) and cgroups.contains(cgroups.lab_group(lab), os.getpid())
    here = os.stat("/proc/self/ns/net").st_ino
    node = next((ns.removeprefix(f"{lab}.") for ns, inode in created(lab).namespaces.items() if inode == here), None)
    if inside or node:
        raise LabError(f"this labctl runs inside lab '{lab}'{f' (on {node})' if node else ''}: leave the lab's "
                       f"shell first, then `labctl down {lab}` from outside it")


def clean() -> list[str]:
    """Remove every lab labctl recorded, running, half-built or left by a crash. Returns their names."""
    require_root("labctl clean")
    removed = []
    for folder in sorted(paths.STATE_DIR.iterdir()) if paths.STATE_DIR.is_dir() else []:
        _not_from_inside(folder.name)
        with no_interrupt():
            destroy(folder.name)
        removed.append(folder.name)
    return removed


@dataclass
class InterfaceStatus:
    name: str
    peer: str
    state: str
    addresses: list[str]
    rx_packets: int
    tx_packets: int


@dataclass
class NodeStatus:
    name: str
    kind: str
    namespace: str
    stopped: bool = False
    interfaces: list[InterfaceStatus] = field(default_factory=list)


@dataclass
class LinkStatus:
    a: str
    b: str
    down: bool
    shaping: str                 # its conditions now, both directions
    shaped_by: list[str]         # how each shaped direction is shaped: back end, where
    counters: list[str]          # what the queue of each shaped direction has seen


@dataclass
class LabStatus:
    name: str
    status: str
    nodes: list[NodeStatus]
    links: list[LinkStatus]
    services: list[services.ServiceStatus]


def status(lab: str) -> LabStatus:
    """The lab as it is: interfaces with live state, addresses and counters from the kernel; links, stopped
    nodes and services as recorded and checked."""
    state, plan = load(lab)
    nodes = []
    for node in plan.nodes.values():
        ns = netns_name(lab, node.name)
        found = NodeStatus(node.name, node.kind, ns, node.name in state.stopped_nodes)
        if netns.inode(ns) is not None:
            with netns.socket(ns) as ipr:
                addrs: dict[int, list[str]] = {}
                for msg in ipr.get_addr():
                    addrs.setdefault(msg["index"], []).append(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
                links = {msg["index"]: msg for msg in ipr.get_links()}
            for intf in node.interfaces:
                msg = links.get(intf.index)
                stats = msg.get_attr("IFLA_STATS64") if msg else None
                found.interfaces.append(InterfaceStatus(
                    intf.name, intf.peer, msg.get_attr("IFLA_OPERSTATE").lower() if msg else "missing",
                    [a for a in addrs.get(intf.index, []) if not a.startswith("fe80")],
                    stats["rx_packets"] if stats else 0, stats["tx_packets"] if stats else 0))
        nodes.append(found)
    return LabStatus(lab, state.status, nodes, link_status(lab, state, plan),
                     services.status(KernelBackend(), lab, plan, state))


def link_status(lab: str, state: LabState | None = None, plan: Plan | None = None) -> list[LinkStatus]:
    """Each link's state and conditions now, how each direction is shaped and what its queue has seen."""
    if state is None or plan is None:
        state, plan = load(lab)
    emulated = impairments.emulator_counters(lab)

    def counters(d: ShapedDirection) -> str:
        seen = tc.counters(netns_name(lab, d.node), d.ifname) if d.backend == "kernel" else \
            emulated.get(f"{d.sender} -> {d.receiver}", "no counters yet")
        return f"{d.sender} -> {d.receiver}: {seen}"
    return [LinkStatus(link.a, link.b, i in state.links_down, link.describe(),
                       [_shaped_by(d) for d in state.shaped.get(i, [])], [counters(d) for d in state.shaped.get(i, [])])
            for i, link in enumerate(live_links(plan, state))]


def _shaped_by(direction: ShapedDirection) -> str:
    """'r1 -> r2: kernel qdiscs on r1:eth1 egress', 'r1 -> r2: labctl emulator on r2:eth0 ingress (NFQUEUE 0)'."""
    return Placement(**direction.model_dump(exclude={"shaping", "queue"})).describe() + \
        (f" (NFQUEUE {direction.queue})" if direction.queue is not None else "")


def stop_node(lab: str, node: str) -> int:
    """The node fails: its links go down, its services stop, and every other process in it ends. Returns how
    many processes ended besides the services."""
    backend = KernelBackend()
    with changing(lab) as (state, plan):
        plan.node_named(node)
        if node in state.stopped_nodes:
            raise LabError(f"{node} is already stopped; `node_start` brings it back")
        touching = [i for i, link in enumerate(plan.links) if node in (end[0] for end in link.ends())]
        up_now = [i for i in touching if i not in state.links_down]
        state.stopped_nodes[node] = up_now          # first: a failure below leaves it for node_start to undo
        set_links(lab, plan, state, up_now, up=False)
        services.stop_all(backend, lab, plan, state, [node])
        if cgroups.lab_group(lab):
            backend.group_kill(services.group(lab, node))          # its exec scope
        others = processes.in_namespaces({netns.inode(netns_name(lab, node))})
        processes.stop(others)
    return len(others)


def start_node(lab: str, node: str) -> None:
    """The node comes back: the links that were up before it stopped go up (with their routes), and its
    services start again, each healthy before this returns."""
    with changing(lab) as (state, plan):
        plan.node_named(node)
        if node not in state.stopped_nodes:
            raise LabError(f"{node} is not stopped")
        links = state.stopped_nodes[node]
        # a link to a node that is still stopped stays down, until that node starts
        others = {i: other for i in links for other, _ in plan.links[i].ends()
                  if other != node and other in state.stopped_nodes}
        for i, other in others.items():
            state.stopped_nodes[other] = sorted(set(state.stopped_nodes[other]) | {i})
        set_links(lab, plan, state, [i for i in links if i not in others], up=True)
        services.start_all(KernelBackend(), lab, plan, state, [node])
        del state.stopped_nodes[node]                 # last: a failure above leaves it stopped, to try again


def kill(lab: str, node: str, process: str, sig: int = signal.SIGTERM) -> int:
    """Send `sig` to the processes named `process` (their command name) in the node. Returns how many."""
    _, plan = load(lab)
    plan.node_named(node)
    pids = [p for p in processes.in_namespaces({netns.inode(netns_name(lab, node))}) if _comm(p) == process]
    sent = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:                  # it ended meanwhile
            pass
    return sent


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _service(plan: Plan, node: str, name: str) -> list[tuple[str, ServicePlan]]:
    return [(node, plan.node_named(node).service_named(name))]


def service_stop(lab: str, node: str, name: str) -> None:
    with changing(lab) as (state, plan):
        services.stop_level(KernelBackend(), lab, _service(plan, node, name), state)


def service_start(lab: str, node: str, name: str) -> None:
    """Start a stopped (or failed) service and wait until it is healthy."""
    backend = KernelBackend()
    with changing(lab) as (state, plan):
        level = _service(plan, node, name)
        entry = state.service(node, name)
        if entry.pid and backend.running(entry.pid, services.group(lab, node, name)):
            raise LabError(f"service {name} on {node} is already running (pid {entry.pid})")
        services.start_level(backend, lab, level, state)


def service_restart(lab: str, node: str, name: str) -> None:
    backend = KernelBackend()
    with changing(lab) as (state, plan):
        level = _service(plan, node, name)
        services.stop_level(backend, lab, level, state)
        services.start_level(backend, lab, level, state)
