"""Running labs: bring up, tear down, inspect and change one, by name."""
from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from labctl.errors import LabError
from labctl.impair import tc
from labctl.kernel import netns
from labctl.runtime.build import Progress, no_interrupt, build, destroy, install_routes, wait_until_up
from labctl.kernel.probe import probe
from labctl.runtime.state import STATE_DIR, LabState, list_labs, load, netns_name
from labctl.plan import LinkPlan, Plan, Shaping


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise LabError(f"{action} needs root (labs are network namespaces): run `sudo labctl ...` "
                       "or become root first")


def up(plan: Plan, progress: Progress = lambda *_: None) -> LabState:
    require_root("labctl up")
    return build(plan, progress)


def down(lab: str) -> None:
    require_root("labctl down")
    state, _ = load(lab)
    with no_interrupt():
        destroy(state)


def clean() -> list[str]:
    """Remove every lab labctl recorded, running, half-built or left by a crash. Returns their names."""
    require_root("labctl clean")
    removed = []
    for folder in sorted(STATE_DIR.iterdir()) if STATE_DIR.is_dir() else []:
        try:
            state, _ = load(folder.name)
        except LabError:    # a crash right after claiming the name: nothing was created yet
            shutil.rmtree(folder, ignore_errors=True)
            continue
        with no_interrupt():
            destroy(state)
        removed.append(folder.name)
    return removed


def _links_between(lab: str, plan: Plan, a: str, b: str) -> list[LinkPlan]:
    links = plan.links_between(a, b)
    if not links:
        raise LabError(f"no link between '{a}' and '{b}' in lab '{lab}'")
    return links


def set_link(lab: str, a: str, b: str, up: bool) -> int:
    """Bring every link between nodes a and b down or up (both ends); on up, restore their static routes,
    which the kernel dropped with the interfaces. Returns how many links changed."""
    _, plan = load(lab)
    links = _links_between(lab, plan, a, b)
    ends = [end for link in links for end in link.ends()]
    sockets = {node: netns.socket(netns_name(lab, node)) for node, _ in ends}
    try:
        for node, ifname in ends:
            ipr = sockets[node]
            ipr.link("set", index=ipr.link_lookup(ifname=ifname)[0], state="up" if up else "down")
        if up:
            wait_until_up({node: (sockets[node], [i for n, i in ends if n == node]) for node in sockets})
            for node, ifname in ends:
                install_routes(sockets[node], plan.node(node), {ifname})
    finally:
        for ipr in sockets.values():
            ipr.close()
    return len(links)


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
    interfaces: list[InterfaceStatus] = field(default_factory=list)


def status(lab: str) -> tuple[LabState, list[NodeStatus]]:
    """The lab's nodes with live interface state, addresses and counters read from the kernel."""
    state, plan = load(lab)
    nodes = []
    for node in plan.nodes.values():
        ns = netns_name(lab, node.name)
        found = NodeStatus(node.name, node.kind, ns)
        if netns.exists(ns):
            with netns.socket(ns) as ipr:
                addrs: dict[int, list[str]] = {}
                for msg in ipr.get_addr():
                    addrs.setdefault(msg["index"], []).append(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
                links = {msg.get_attr("IFLA_IFNAME"): msg for msg in ipr.get_links()}
            for intf in node.interfaces:
                msg = links.get(intf.name)
                stats = msg.get_attr("IFLA_STATS64") if msg else None
                found.interfaces.append(InterfaceStatus(
                    intf.name, intf.peer, msg.get_attr("IFLA_OPERSTATE").lower() if msg else "missing",
                    [a for a in addrs.get(msg["index"], []) if not a.startswith("fe80")] if msg else [],
                    stats["rx_packets"] if stats else 0, stats["tx_packets"] if stats else 0))
        nodes.append(found)
    return state, nodes


def impair(lab: str, a: str, b: str, shaping: Shaping) -> int:
    """Replace the shaping of every link between a and b (both ends). Returns how many links changed."""
    _, plan = load(lab)
    links = _links_between(lab, plan, a, b)
    caps = probe()
    if problems := tc.unsupported(shaping, caps):
        raise LabError(f"cannot impair {a}-{b}: " + "; ".join(problems))
    for link in links:
        for node, ifname in link.ends():
            with netns.socket(netns_name(lab, node)) as ipr:
                tc.apply(ipr, netns_name(lab, node), ifname, shaping, caps, replacing=True)
    return len(links)


def _neighbours(plan: Plan, node: str) -> list[str]:
    return sorted({n for link in plan.links for n, _ in link.ends() if node in (e[0] for e in link.ends())} - {node})


def stop_node(lab: str, node: str) -> int:
    """A node fails: all its links go down and every process in its namespace stops. Returns the process count."""
    _, plan = load(lab)
    for neighbour in _neighbours(plan, node):
        set_link(lab, node, neighbour, up=False)
    pids = _node_pids(lab, node)
    netns.stop_processes(pids)
    return len(pids)


def start_node(lab: str, node: str) -> None:
    """The node comes back: its links go up and their static routes return."""
    _, plan = load(lab)
    for neighbour in _neighbours(plan, node):
        set_link(lab, node, neighbour, up=True)


def kill(lab: str, node: str, process: str, sig: int = signal.SIGTERM) -> int:
    """Send `sig` to the processes named `process` (their command name) in the node. Returns how many."""
    load(lab)
    pids = [p for p in _node_pids(lab, node) if _comm(p) == process]
    for pid in pids:
        os.kill(pid, sig)
    return len(pids)


def _node_pids(lab: str, node: str) -> list[int]:
    return netns.pids_in({netns.inode(netns_name(lab, node))})


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
