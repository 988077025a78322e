"""Mininet 2.3's own build of a plan: hosts and routers are Mininet Nodes in their own namespaces (routers
forward, as in Mininet's examples/linuxrouter.py), switches are LinuxBridges in the root namespace.

Addresses come from the same labctl plan, so all three builds are the same network. Interface names are
`<node>-<interface>` (e.g. `sw3-eth7`), which keeps the switch ports Mininet leaves in the root namespace
predictable: `root_names()` lists them so whatever `net.stop()` leaves behind is deleted by exact name.
Never calls mininet.clean.cleanup() (it kills and deletes by name system-wide), and skips Mininet.init(), whose
fixLimits() raises system-wide sysctls; this machine's limits are enough for a few thousand nodes.
"""
from __future__ import annotations

import shutil
import time

from labctl.plan import Plan


def unavailable() -> str | None:
    """Why Mininet cannot run here, or None."""
    if not shutil.which("mnexec"):
        return "mnexec not found (Debian package mininet)"
    if not shutil.which("brctl"):
        return "brctl not found (Debian package bridge-utils)"
    try:
        import mininet.net  # noqa: F401
    except ImportError as exc:
        return f"cannot import mininet: {exc}"
    return None


def root_names(plan: Plan) -> set[str]:
    """Interfaces a Mininet build of `plan` creates in the root namespace: the bridges and their ports."""
    switches = [n for n in plan.nodes.values() if n.kind == "switch"]
    return {s.name for s in switches} | {f"{s.name}-{i.name}" for s in switches for i in s.interfaces}


class MininetBuild:
    def __init__(self, plan: Plan):
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import Host, Node
        from mininet.nodelib import LinuxBridge
        from mininet.topo import Topo

        class LinuxRouter(Node):
            """A Node with IP forwarding enabled (Mininet's examples/linuxrouter.py)."""

            def config(self, **params):
                super().config(**params)
                self.cmd("sysctl net.ipv4.ip_forward=1")

            def terminate(self):
                self.cmd("sysctl net.ipv4.ip_forward=0")
                super().terminate()

        setLogLevel("warning")
        Mininet.inited = True   # skip Mininet.init(): its fixLimits() changes system-wide sysctls
        self.plan = plan
        topo = Topo()
        for node in plan.nodes.values():
            if node.kind == "switch":
                topo.addSwitch(node.name)
            elif node.kind == "router":
                topo.addNode(node.name, cls=LinuxRouter, ip=None)
            else:
                gateway = next((r.via for r in node.routes if r.dst == "default"), None)
                topo.addHost(node.name, cls=Host, ip=None, defaultRoute=gateway and f"via {gateway}")
        for link in plan.links:
            (a, ifa), (b, ifb) = link.ends()
            ia, ib = plan.nodes[a].interface(ifa), plan.nodes[b].interface(ifb)
            topo.addLink(a, b, port1=plan.nodes[a].interfaces.index(ia), port2=plan.nodes[b].interfaces.index(ib),
                         intfName1=f"{a}-{ifa}", intfName2=f"{b}-{ifb}",
                         params1={"ip": ia.ipv4} if ia.ipv4 else {}, params2={"ip": ib.ipv4} if ib.ipv4 else {})
        self.net = Mininet(topo=topo, switch=LinuxBridge, controller=None, build=False)

    def up(self) -> dict[str, float]:
        """net.build(), net.start() (the bridges), then routers' loopbacks and static routes, as
        examples/linuxrouter.py adds them. Returns the seconds each step took."""
        t0 = time.perf_counter()
        self.net.build()
        t1 = time.perf_counter()
        self.net.start()
        t2 = time.perf_counter()
        for node in self.plan.nodes.values():
            if node.kind != "router":
                continue
            router = self.net[node.name]
            for address in node.loopback:
                router.cmd(f"ip addr add {address} dev lo")
            for route in node.routes:
                router.cmd(f"ip route replace {route.dst} via {route.via} dev {node.name}-{route.dev} "
                           f"metric {route.metric}")
        t3 = time.perf_counter()
        return {"net.build()": t1 - t0, "net.start()": t2 - t1, "router routes": t3 - t2}

    def namespace_pids(self) -> list[int]:
        """One process in each node namespace (hosts and routers)."""
        return [host.pid for host in self.net.hosts]

    def shell_pids(self) -> list[int]:
        return [node.pid for node in self.net.hosts + self.net.switches if node.shell]

    def ping(self, node: str, address: str) -> bool:
        out = self.net[node].cmd(f"ping -c1 -W2 {address} >/dev/null 2>&1; echo $?").split()
        return out[-1:] == ["0"]

    def down(self) -> None:
        self.net.stop()
