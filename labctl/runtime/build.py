"""Building a plan on the kernel with pyroute2, and removing it again. Everything lives in the lab's own
namespaces: veth pairs are created straight into them and switches are bridges inside their own namespace,
so the root namespace never sees a lab interface."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from contextlib import contextmanager
from ipaddress import ip_interface
from pathlib import Path
from typing import Callable, Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from labctl.errors import LabError
from labctl.impair import tc
from labctl.kernel import netns
from labctl.kernel.probe import probe
from labctl.runtime.state import ETC_NETNS, LabState, claim, forget, netns_name
from labctl.plan import NodePlan, Plan, RoutePlan

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]

# No ICMP rate limits, so a lab's traceroutes see every hop. For IPv4 the rate mask is cleared rather than the
# rate set to 0: a zero rate also drains the per-host budget the kernel keeps for "net unreachable" errors.
_COMMON_SYSCTLS = {"net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0",
                   "net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.icmp_ratemask": "0",
                   "net.ipv6.icmp.ratelimit": "0"}
SYSCTLS = {
    "host": _COMMON_SYSCTLS,
    "router": _COMMON_SYSCTLS | {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1",
                                 "net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
                                 "net.ipv4.conf.default.ignore_routes_with_linkdown": "1"},
    # a switch only bridges: no IPv6 link-local chatter from its ports
    "switch": {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"},
}


def preflight(plan: Plan) -> None:
    """Refuse a plan this machine cannot build, before anything is created."""
    shaped = [link for link in plan.links if link.shaping.is_shaped()]
    if not shaped:
        return
    caps = probe()
    problems = [f"link {link.label()} ({link.a} - {link.b}): {why}"
                for link in shaped for why in tc.unsupported(link.shaping, caps)]
    if problems:
        raise LabError("this machine cannot build the lab:\n  " + "\n  ".join(problems) +
                       "\n  (`labctl doctor` lists the kernel features found)")


@contextmanager
def no_interrupt() -> Iterator[None]:
    """Let a teardown finish even if the user presses Ctrl-C again."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def route_args(route: RoutePlan, index: int) -> dict:
    six = ":" in route.via
    dst = ("::/0" if six else "0.0.0.0/0") if route.dst == "default" else route.dst
    return {"dst": dst, "gateway": route.via, "oif": index, "priority": route.metric}


def install_routes(ipr: IPRoute, node: NodePlan, devs: set[str] | None = None) -> None:
    """Add (or re-add) the plan's routes of `node`, only those out of `devs` if given."""
    for route in node.routes:
        if devs is None or route.dev in devs:
            ipr.route("replace", **route_args(route, ipr.link_lookup(ifname=route.dev)[0]))


def wait_until_up(interfaces: dict[str, tuple[IPRoute, list[str]]], timeout: float = 10.0) -> None:
    """Return once the interfaces ({node: (socket, names)}) are operationally up: the kernel drops packets on
    a veth until its carrier event has been processed, which can take up to a second."""
    deadline = time.monotonic() + timeout
    waiting = {node for node, (_, names) in interfaces.items() if names}
    while waiting:
        for node in sorted(waiting):
            ipr, names = interfaces[node]
            states = {m.get_attr("IFLA_IFNAME"): m.get_attr("IFLA_OPERSTATE") for m in ipr.get_links()}
            if all(states.get(name) == "UP" for name in names):
                waiting.discard(node)
        if waiting and time.monotonic() > deadline:
            raise LabError(f"interfaces of {', '.join(sorted(waiting))} did not come up within {timeout:.0f} s")
        if waiting:
            time.sleep(0.02)


class Builder:
    def __init__(self, plan: Plan, progress: Progress):
        self.plan, self.progress = plan, progress
        self.sockets: dict[str, IPRoute] = {}
        self.hosts_file: Path | None = None

    def ns(self, node: str) -> str:
        return netns_name(self.plan.name, node)

    def run(self) -> None:
        plan, total = self.plan, len(self.plan.nodes)
        for i, node in enumerate(plan.nodes.values(), 1):
            self.sockets[node.name] = netns.create(self.ns(node.name), SYSCTLS[node.kind])
            self._hosts_file(node.name)
            self.progress("namespaces", i, total)
        for i, link in enumerate(plan.links, 1):
            (a, ifa), (b, ifb) = link.ends()
            fd = open(netns.NETNS_DIR / self.ns(b))
            try:
                self.sockets[a].link("add", ifname=ifa, kind="veth", peer={"ifname": ifb, "net_ns_fd": fd.fileno()})
            finally:
                fd.close()
            self.progress("links", i, len(plan.links))
        for i, node in enumerate(plan.nodes.values(), 1):
            self._configure(node)
            self.progress("addresses and routes", i, total)
        shaped = [link for link in plan.links if link.shaping.is_shaped()]
        for i, link in enumerate(shaped, 1):
            for node, ifname in link.ends():
                tc.apply(self.sockets[node], self.ns(node), ifname, link.shaping, probe())
            self.progress("link shaping", i, len(shaped))
        wait_until_up({n.name: (self.sockets[n.name], [i.name for i in n.interfaces]) for n in plan.nodes.values()})

    def _hosts_file(self, node: str) -> None:
        """/etc/netns/<ns>/hosts, which `ip netns exec` mounts over /etc/hosts: one file, hard-linked for
        every node (the lab's names are the same everywhere)."""
        folder = ETC_NETNS / self.ns(node)
        folder.mkdir(parents=True, exist_ok=True)
        if self.hosts_file is None:
            lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
            lines += [f"{address}\t{name}" for address, name in self.plan.hosts]
            self.hosts_file = folder / "hosts"
            self.hosts_file.write_text("\n".join(lines) + "\n")
            # no name server in the lab: without this, lookups wait for the machine's resolver, unreachable here
            (folder / "resolv.conf").write_text("# labctl: lab names come from /etc/hosts; no DNS server\n")
        else:
            os.link(self.hosts_file, folder / "hosts")
            os.link(self.hosts_file.parent / "resolv.conf", folder / "resolv.conf")

    def _configure(self, node: NodePlan) -> None:
        ipr = self.sockets[node.name]
        ipr.link("set", index=1, state="up")
        for address in node.loopback:
            iface = ip_interface(address)
            ipr.addr("add", index=1, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        bridge = None
        if node.kind == "switch":
            ipr.link("add", ifname=node.name, kind="bridge")
            bridge = ipr.link_lookup(ifname=node.name)[0]
        for intf in node.interfaces:
            index = ipr.link_lookup(ifname=intf.name)[0]
            for address in (intf.ipv4, intf.ipv6):
                if address:
                    iface = ip_interface(address)
                    ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ipr.link("set", index=index, state="up", **({"mtu": intf.mtu} if intf.mtu else {}),
                     **({"master": bridge} if bridge else {}))
        if bridge:
            ipr.link("set", index=bridge, state="up")
        install_routes(ipr, node)

    def close(self) -> None:
        for ipr in self.sockets.values():
            ipr.close()
        self.sockets.clear()


def build(plan: Plan, progress: Progress = lambda *_: None) -> LabState:
    """Create the lab; on any failure or Ctrl-C, remove what was created and re-raise."""
    preflight(plan)
    state = claim(plan)
    builder = Builder(plan, progress)
    try:
        builder.run()
        state.status = "running"
        state.save()
        return state
    except BaseException as exc:
        log.debug("build of %s failed: %r; rolling back", plan.name, exc)
        builder.close()
        with no_interrupt():
            destroy(state)
        if isinstance(exc, (NetlinkError, OSError)):
            raise LabError(f"building lab '{plan.name}' failed: {exc}") from exc
        raise
    finally:
        builder.close()


def destroy(state: LabState) -> None:
    """Stop the lab's processes and remove its namespaces, hosts files and state."""
    inodes = {i for i in (netns.inode(ns) for ns in state.namespaces) if i is not None}
    netns.stop_processes(sorted(set(state.pids) | set(netns.pids_in(inodes))))
    for ns in state.namespaces:
        netns.remove(ns)
        shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)
    forget(state)
