"""A Backend without a kernel: namespaces, interfaces, cgroups and processes as plain data, checked the way the
kernel would check them, with failures injected on demand. Lets the unit tests build and tear down labs without
root, and see what is left."""
from __future__ import annotations

import itertools
import json
import signal
from dataclasses import dataclass, field
from pathlib import Path

from labctl.errors import LabError
from labctl.plan import BRIDGE_IFINDEX, NodePlan, Shaping
from labctl.runtime.backend import Veth


class Injected(LabError):
    """The failure a test asked for."""


@dataclass
class Process:
    namespace: str | None
    group: Path | None
    argv: list[str]
    status: Path | None = None
    alive: bool = True


@dataclass
class FakeKernel:
    fail: tuple[str, int] | None = None        # (method, nth call) that raises Injected
    interrupt: tuple[str, int] | None = None   # (method, nth call) that raises KeyboardInterrupt
    health: int = 0                            # what health checks exit with
    namespaces: dict[str, int] = field(default_factory=dict)          # name -> inode
    interfaces: dict[str, dict[int, str]] = field(default_factory=dict)   # namespace -> index -> name
    addresses: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    routes: dict[str, list[tuple[str, str, int, int]]] = field(default_factory=dict)
    shaped: dict[tuple[str, str], Shaping] = field(default_factory=dict)
    queued: dict[str, list[tuple[str, str, int, bool]]] = field(default_factory=dict)   # namespace -> NFQUEUE rules
    groups: set[Path] = field(default_factory=set)
    processes: dict[int, Process] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def _call(self, method: str) -> None:
        self.calls[method] = n = self.calls.get(method, 0) + 1
        if self.fail == (method, n):
            raise Injected(f"injected failure: {method} #{n}")
        if self.interrupt == (method, n):
            raise KeyboardInterrupt

    def foreign_namespace(self, name: str) -> int:
        """Someone else's namespace, with a process in it."""
        self.namespaces[name] = inode = next(self._ids)
        self.processes[next(self._ids)] = Process(name, None, ["sleep", "1000"])
        return inode

    # --- namespaces and interfaces ---

    def namespace_exists(self, name: str) -> bool:
        return name in self.namespaces

    def create_namespace(self, name: str, sysctls: dict[str, str], record) -> None:
        self._call("create_namespace")
        record(name, None)
        if name in self.namespaces:
            record(name, 0)
            raise LabError(f"a network namespace named '{name}' already exists")
        self.namespaces[name] = inode = next(self._ids)
        record(name, inode)
        self.interfaces[name] = {1: "lo"}

    def remove_namespace(self, name: str, inode: int | None) -> bool:
        if inode is None or self.namespaces.get(name) != inode:
            return False
        del self.namespaces[name]
        for table in (self.interfaces, self.addresses, self.routes):
            table.pop(name, None)
        return True

    def _add_interface(self, namespace: str, index: int, name: str) -> None:
        if namespace not in self.namespaces:
            raise LabError(f"no namespace {namespace}")
        if index in self.interfaces[namespace] or name in self.interfaces[namespace].values():
            raise LabError(f"{namespace}: interface {name} (index {index}) exists")
        self.interfaces[namespace][index] = name

    def add_veths(self, namespace: str, veths: list[Veth]) -> None:
        self._call("add_veths")
        for v in veths:
            self._add_interface(namespace, v.index, v.name)
            self._add_interface(v.peer_namespace, v.peer_index, v.peer_name)

    def configure(self, namespace: str, node: NodePlan) -> None:
        self._call("configure")
        if node.kind == "switch":
            self._add_interface(namespace, BRIDGE_IFINDEX, node.name)
        for intf in node.interfaces:
            if self.interfaces[namespace].get(intf.index) != intf.name:
                raise LabError(f"{namespace}: no interface {intf.name} at index {intf.index}")
            self.addresses.setdefault(namespace, []).extend((intf.index, a) for a in (intf.ipv4, intf.ipv6) if a)
        self.routes[namespace] = [(r.dst, r.via, node.interface(r.dev).index, r.metric) for r in node.routes]

    def shape(self, namespace: str, ifname: str, shaping: Shaping) -> None:
        self._call("shape")
        if ifname not in self.interfaces[namespace].values():
            raise LabError(f"{namespace}: no interface {ifname}")
        self.shaped[(namespace, ifname)] = shaping

    def queue_rules(self, namespace: str, rules: list[tuple[str, str, int, bool]]) -> None:
        self._call("queue_rules")
        if namespace not in self.namespaces:
            raise LabError(f"no namespace {namespace}")
        self.queued[namespace] = rules

    def wait_up(self, interfaces: dict[str, list[int]], timeout: float = 10.0) -> None:
        self._call("wait_up")
        for namespace, indexes in interfaces.items():
            missing = set(indexes) - set(self.interfaces[namespace])
            if missing:
                raise LabError(f"{namespace}: interfaces {missing} never came up")

    def close(self) -> None:
        pass

    # --- cgroups and processes ---

    def group_create(self, path: Path, exclusive: bool = False) -> None:
        self._call("group_create")
        if exclusive and path in self.groups:
            raise LabError(f"cgroup {path} already exists")
        self.groups.add(path)

    def _in(self, path: Path) -> list[int]:
        return [pid for pid, p in self.processes.items() if p.alive and p.group and p.group.is_relative_to(path)]

    def group_kill(self, path: Path) -> None:
        for pid in self._in(path):
            self.processes[pid].alive = False

    def group_remove(self, path: Path) -> None:
        if self._in(path):
            raise LabError(f"cgroup {path} still has processes")
        self.groups = {g for g in self.groups if not g.is_relative_to(path)}

    def group_pids(self, path: Path) -> list[int]:
        return self._in(path)

    def spawn(self, namespace: str, group: Path, argv: list[str], log: Path, status: Path) -> int:
        self._call("spawn")
        if namespace is not None and namespace not in self.namespaces:      # None: the machine's own
            raise LabError(f"no namespace {namespace}")
        self.groups.add(group)
        pid = next(self._ids)
        self.processes[pid] = Process(namespace, group, argv, status)
        return pid

    def run(self, namespace: str, argv: list[str], timeout: float) -> tuple[int, str]:
        self._call("run")
        return self.health, "" if self.health == 0 else "connection refused"

    def signal(self, pid: int, group: Path, sig: int) -> bool:
        process = self.processes.get(pid)
        if not (process and process.alive and process.group == group):
            return False
        if sig == signal.SIGHUP and "emulate" in process.argv:     # the link emulator takes its new configuration
            config = json.loads(Path(process.argv[-1]).read_text())
            Path(config["ready"]).write_text(f"{config['generation']}\n")
            return True
        process.alive = False                  # it exits at once, and its supervisor writes the status
        process.status.write_text("0\n")
        return True

    def running(self, pid: int | None, group: Path) -> bool:
        process = self.processes.get(pid)
        return bool(process and process.alive and process.group == group)

    def stop_processes_in(self, inodes: set[int]) -> None:
        for process in self.processes.values():
            if self.namespaces.get(process.namespace) in inodes:
                process.alive = False

    # --- what is left ---

    def lab_objects(self, lab: str) -> dict[str, object]:
        """Everything of `lab` still on the fake machine."""
        left = {"namespaces": [n for n in self.namespaces if n.startswith(f"{lab}.")],
                "processes": [pid for pid, p in self.processes.items() if p.alive and (
                    (p.namespace or "").startswith(f"{lab}.") or (p.group and lab in p.group.parts))],
                "cgroups": [g for g in self.groups if lab in g.parts]}
        return {kind: found for kind, found in left.items() if found}
