"""The seam between the runtime and the machine. Everything a lab's bring-up, teardown and services do to the
kernel goes through a Backend: namespaces, interfaces, addresses and routes, shaping, cgroups and processes.
KernelBackend is the real one; the unit tests build and tear down labs on a fake without root."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from labctl.errors import LabError
from labctl.impair import tc
from labctl.kernel import cgroups, netlink, netns, processes
from labctl.kernel.probe import probe
from labctl.plan import BRIDGE_IFINDEX, NodePlan, Shaping

# Starts a service's command inside `group` and prints its pid; a subshell stays behind as its parent, to write
# its exit status to `status` when it ends. The command's output (and the subshell's) goes to `log`.
_SUPERVISE = """
group=$1 status=$2 log=$3
shift 3
echo 0 > "$group/cgroup.procs" || exit 1
(
    exec </dev/null 2>>"$log"
    "$@" >>"$log" 2>&1 &
    echo $!
    exec >&-
    wait $!
    echo $? > "$status"
) &
"""


# the link emulator's packets, in the mangle table: (base chain, labctl's chain) by hook
_QUEUE_CHAINS = {"ingress": ("PREROUTING", "LABCTL-IN"), "egress": ("POSTROUTING", "LABCTL-OUT")}


def _in(namespace: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv] if namespace else argv


@dataclass
class Veth:
    name: str
    index: int
    peer_namespace: str
    peer_name: str
    peer_index: int


def wait_until_up(operstates: Callable[[str], dict[int, str]], interfaces: dict[str, list[int]],
                  timeout: float = 10.0) -> None:
    """Return once the interfaces ({namespace: indexes}) are operationally up, as `operstates(namespace)` reads
    them: the kernel drops packets on a veth until its carrier event has been processed (up to a second)."""
    deadline = time.monotonic() + timeout
    waiting = {ns for ns, indexes in interfaces.items() if indexes}
    while waiting:
        for ns in sorted(waiting):
            states = operstates(ns)
            if all(states.get(i) == "UP" for i in interfaces[ns]):
                waiting.discard(ns)
        if waiting and time.monotonic() > deadline:
            raise LabError(f"interfaces of {', '.join(sorted(waiting))} did not come up within {timeout:.0f} s")
        if waiting:
            time.sleep(0.02)


class Backend(Protocol):
    def namespace_exists(self, name: str) -> bool: ...
    def create_namespace(self, name: str, sysctls: dict[str, str],
                         record: Callable[[str, int | None], None]) -> None: ...
    def remove_namespace(self, name: str, inode: int | None) -> bool: ...
    def add_veths(self, namespace: str, veths: list[Veth]) -> None: ...
    def configure(self, namespace: str, node: NodePlan) -> None: ...
    def shape(self, namespace: str, ifname: str, shaping: Shaping) -> None: ...
    def queue_rules(self, namespace: str, rules: list[tuple[str, str, int, bool]]) -> None: ...
    def wait_up(self, interfaces: dict[str, list[int]], timeout: float = 10.0) -> None: ...
    def close(self) -> None: ...
    def group_create(self, path: Path, exclusive: bool = False) -> None: ...
    def group_kill(self, path: Path) -> None: ...
    def group_remove(self, path: Path) -> None: ...
    def group_pids(self, path: Path) -> list[int]: ...
    def spawn(self, namespace: str | None, group: Path, argv: list[str], log: Path, status: Path) -> int: ...
    def run(self, namespace: str | None, argv: list[str], timeout: float) -> tuple[int, str]: ...
    def signal(self, pid: int, group: Path, sig: int) -> bool: ...
    def running(self, pid: int, group: Path) -> bool: ...
    def stop_processes_in(self, inodes: set[int]) -> None: ...


class KernelBackend:
    """The machine itself. Namespaces it creates keep an open fd and a netlink socket until close()."""

    def __init__(self) -> None:
        self.namespaces: dict[str, netns.Namespace] = {}
        self.sockets: dict[str, netlink.RtnlSocket] = {}

    def namespace_exists(self, name: str) -> bool:
        return netns.exists(name)

    def create_namespace(self, name: str, sysctls: dict[str, str],
                         record: Callable[[str, int | None], None]) -> None:
        """Create it; `record(name, inode)` journals it as soon as the name is taken (see netns.create)."""
        ns = self.namespaces[name] = netns.create(name, sysctls, record)
        with netns.entered(ns.fd):
            self.sockets[name] = netlink.RtnlSocket()

    def remove_namespace(self, name: str, inode: int | None) -> bool:
        return netns.remove(name, inode)

    def add_veths(self, namespace: str, veths: list[Veth]) -> None:
        batch = netlink.Batch(namespace)
        for v in veths:
            batch.add_veth(v.name, v.index, v.peer_name, v.peer_index, self.namespaces[v.peer_namespace].fd)
        self.sockets[namespace].send(batch)

    def configure(self, namespace: str, node: NodePlan) -> None:
        """Loopback, bridge, addresses, interfaces up (into the bridge), routes: one batch of requests."""
        batch = netlink.Batch(namespace)
        batch.set_link(1, up=True)
        for address in node.loopback:
            batch.add_address(1, address)
        bridge = BRIDGE_IFINDEX if node.kind == "switch" else None
        if bridge:
            batch.add_bridge(node.name, bridge)
        for intf in node.interfaces:
            for address in (intf.ipv4, intf.ipv6):
                if address:
                    batch.add_address(intf.index, address)
            batch.set_link(intf.index, up=True, mtu=intf.mtu, master=bridge)
        if bridge:
            batch.set_link(bridge, up=True)
        index = {intf.name: intf.index for intf in node.interfaces}
        for route in node.routes:
            batch.add_route(route.dst, route.via, index[route.dev], route.metric)
        self.sockets[namespace].send(batch)

    def shape(self, namespace: str, ifname: str, shaping: Shaping) -> None:
        tc.apply(namespace, ifname, shaping, probe())

    def queue_rules(self, namespace: str, rules: list[tuple[str, str, int, bool]]) -> None:
        """The rules that hand the emulator its packets in `namespace`, as (hook, interface, queue, bridged: the
        interface is a switch's port); they replace those set before (none: no more)."""
        script = "*mangle\n" + "".join(f":{chain} - [0:0]\n" for _, chain in _QUEUE_CHAINS.values())
        for hook, ifname, queue, bridged in rules:
            match = {"ingress": "-m physdev --physdev-in", "egress": "-m physdev --physdev-out"}[hook] if bridged \
                else {"ingress": "-i", "egress": "-o"}[hook]
            script += f"-A {_QUEUE_CHAINS[hook][1]} {match} {ifname} -j NFQUEUE --queue-num {queue} --queue-bypass\n"
        script += "COMMIT\n"
        for tool in ("iptables", "ip6tables"):
            steps = [([f"{tool}-restore", "-w", "--noflush"], script)]
            for base, chain in _QUEUE_CHAINS.values():
                jump = [tool, "-w", "-t", "mangle", "{}", base, "-j", chain]
                if processes.run(_in(namespace, [w.format("-C") for w in jump]), 10).returncode:
                    steps.append(([w.format("-A") for w in jump], None))
            for argv, given in steps:
                done = subprocess.run(_in(namespace, argv), input=given, text=True, capture_output=True)
                if done.returncode:
                    raise LabError(f"{namespace}: `{' '.join(argv)}` failed: {done.stderr.strip()}")

    def wait_up(self, interfaces: dict[str, list[int]], timeout: float = 10.0) -> None:
        wait_until_up(lambda ns: {i: link.operstate for i, link in self.sockets[ns].operstates().items()},
                      interfaces, timeout)

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        for ns in self.namespaces.values():
            os.close(ns.fd)
        self.sockets.clear()
        self.namespaces.clear()

    def group_create(self, path: Path, exclusive: bool = False) -> None:
        cgroups.create(path, exclusive)

    def group_kill(self, path: Path) -> None:
        cgroups.kill(path)

    def group_remove(self, path: Path) -> None:
        cgroups.remove(path)

    def group_pids(self, path: Path) -> list[int]:
        return cgroups.pids(path)

    def spawn(self, namespace: str | None, group: Path, argv: list[str], log: Path, status: Path) -> int:
        """Start `argv` in `namespace` (None: the machine's own) inside `group`; returns its pid."""
        try:
            done = subprocess.run(["sh", "-c", _SUPERVISE, "labctl-service", str(group), str(status), str(log),
                                   *_in(namespace, argv)],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, start_new_session=True,
                                  timeout=10)
        except subprocess.TimeoutExpired:
            raise LabError(f"starting `{' '.join(argv)}` took more than 10 s") from None
        if done.returncode or not done.stdout.strip().isdigit():
            raise LabError(f"could not start `{' '.join(argv)}`: {done.stderr.strip()}")
        return int(done.stdout)

    def run(self, namespace: str | None, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run a command in the namespace; on timeout its whole process group is killed (exit 124)."""
        try:
            done = processes.run(_in(namespace, argv), timeout, stderr=subprocess.STDOUT)
            return done.returncode, done.stdout
        except subprocess.TimeoutExpired:
            return 124, f"(timed out after {timeout:g} s)"

    def signal(self, pid: int, group: Path, sig: int) -> bool:
        """Send `sig` to `pid` if it is still the process in `group` recorded earlier."""
        if not cgroups.contains(group, pid):
            return False
        try:
            os.kill(pid, sig)
            return True
        except ProcessLookupError:
            return False

    def running(self, pid: int | None, group: Path) -> bool:
        return pid is not None and cgroups.contains(group, pid) and processes.alive(pid)

    def stop_processes_in(self, inodes: set[int]) -> None:
        processes.stop(processes.in_namespaces(inodes))
