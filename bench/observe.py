"""What the benchmark observes: kernel and process memory, the machine, the root namespace, and the moment the
kernel has really destroyed a set of network namespaces."""
from __future__ import annotations

import errno
import json
import os
import platform
import resource
import select
import socket
import struct
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from labctl.kernel import netns

# what a lab costs the kernel, from /proc/meminfo (kB); positive = consumed
MEMORY_KEYS = {"available": "MemAvailable", "slab": "Slab", "percpu": "Percpu"}

RESULTS = Path(__file__).resolve().parent / "results"


def save(report: dict, prefix: str, latest: str) -> Path:
    """The report as results/<prefix>-<date>-<time>.json, and as results/<latest>."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=1) + "\n"
    path = RESULTS / f"{prefix}-{time.strftime('%Y-%m-%d-%H%M%S')}.json"
    path.write_text(text)
    (RESULTS / latest).write_text(text)
    return path


def wrap_up(report: dict, started: float) -> str:
    """Record the run's wall time (since `started`, a time.perf_counter()) and the load average at its end; the line
    that says both, with the load average at the start (report["machine"])."""
    report["wall_s"] = time.perf_counter() - started
    report["loadavg_at_end"] = os.getloadavg()
    return (f"{report['wall_s']:.0f} s; load average {report['machine']['loadavg'][0]:.2f} at the start, "
            f"{report['loadavg_at_end'][0]:.2f} at the end ({report['machine']['nproc']} CPUs, shared: figures are "
            "noisy)")


def meminfo() -> dict[str, int]:
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, rest = line.split(":", 1)
        values[key] = int(rest.split()[0])
    return values


def memory_used(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """KiB consumed between two meminfo snapshots: MemAvailable that went away, Slab and Percpu that grew."""
    return {"available": before["MemAvailable"] - after["MemAvailable"],
            "slab": after["Slab"] - before["Slab"],
            "percpu": after.get("Percpu", 0) - before.get("Percpu", 0)}


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kib(pids: list[int]) -> int:
    """Proportional set size of these processes together (shared pages counted once overall)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total


def cpu_s(who: str) -> float:
    """User + system CPU seconds of this process ("self") or of its reaped children ("children")."""
    usage = resource.getrusage(resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])                         # user nice system idle iowait irq softirq steal
    return total - values[3] - values[4], total


def _first_line(*cmd: str) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0] if out else None


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    return {
        "nproc": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_total_mib": meminfo()["MemTotal"] // 1024,
        "python": platform.python_version(),
        "pyroute2": version("pyroute2"),
        "iproute2": _first_line("ip", "-V"),
        "mininet": _first_line("dpkg-query", "-W", "-f=${Version}", "mininet"),
    }


def root_links() -> set[str]:
    """Interface names in the root network namespace."""
    with IPRoute() as ipr:
        return {msg.get_attr("IFLA_IFNAME") for msg in ipr.get_links()}


def delete_root_links(names: set[str]) -> list[str]:
    """Delete exactly these interfaces from the root namespace, those that exist. Returns the ones deleted."""
    deleted = []
    with IPRoute() as ipr:
        for name in sorted(names):
            found = ipr.link_lookup(ifname=name)
            if found:
                try:
                    ipr.link("del", index=found[0])
                    deleted.append(name)
                except NetlinkError as exc:
                    if exc.code != errno.ENODEV:    # gone with its veth peer meanwhile
                        raise
    return deleted


def named_namespaces() -> set[str]:
    return {p.name for p in netns.NETNS_DIR.iterdir()} if netns.NETNS_DIR.is_dir() else set()


_SOL_NETLINK, _NETLINK_ADD_MEMBERSHIP, _RTNLGRP_NSID, _SO_RCVBUFFORCE = 270, 1, 28, 33
_RTM_DELNSID, _NETNSA_NSID = 89, 1


class ReleaseWatcher:
    """When has the kernel really destroyed the namespaces of a lab?

    Removing a namespace only drops a reference; the kernel destroys it later in a background worker, and that
    is when its interfaces, routes and memory go. Each watched namespace gets an id in the root namespace (like
    `ip netns set NAME auto`), and the kernel announces RTM_DELNSID for it as its cleanup starts. Cleanups run
    one batch at a time, so a sentinel namespace removed after the last announcement is announced only once the
    batch holding the lab's last namespaces has finished: that announcement is the release time.
    """

    def __init__(self) -> None:
        self.events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.events.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 8 << 20)
        self.events.bind((0, 0))
        self.events.setsockopt(_SOL_NETLINK, _NETLINK_ADD_MEMBERSHIP, _RTNLGRP_NSID)
        self.ipr = IPRoute()
        self.watched: set[int] = set()
        self.sentinel = f"bench-sentinel-{os.getpid()}"
        self.sentinel_inode: int | None = None
        self.sentinel_id: int | None = None

    def watch_path(self, path: str | Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self.watched.add(self._assign(fd=fd))
        finally:
            os.close(fd)

    def watch_pid(self, pid: int) -> None:
        self.watched.add(self._assign(pid=pid))

    def _assign(self, **target: int) -> int:
        try:
            self.ipr.set_netnsid(**target)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:    # already has an id in the root namespace: use it
                raise
        return self.ipr.get_netnsid(**target)["nsid"]

    def arm(self) -> None:
        """Create the sentinel: call after the watch_* calls, before tearing the lab down."""
        sentinel = netns.create(self.sentinel, {})
        self.sentinel_inode = sentinel.inode
        try:
            self.sentinel_id = self._assign(fd=sentinel.fd)
        finally:
            os.close(sentinel.fd)

    def wait(self, timeout: float = 60.0) -> float | None:
        """Block until every watched namespace is destroyed; when it was (time.perf_counter()), or None on
        timeout."""
        deadline = time.monotonic() + timeout
        try:
            while self.watched:
                if time.monotonic() >= deadline:
                    return None
                self.watched -= self._announced(deadline)
            netns.remove(self.sentinel, self.sentinel_inode)
            while time.monotonic() < deadline:
                if self.sentinel_id in self._announced(deadline):
                    return time.perf_counter()
            return None
        finally:
            self.disarm()

    def disarm(self) -> None:
        """Forget everything watched and remove the sentinel if it is still there (safe to call twice)."""
        if netns.exists(self.sentinel):
            netns.remove(self.sentinel, self.sentinel_inode)
        self.watched.clear()
        self.sentinel_id = None

    def _announced(self, deadline: float) -> set[int]:
        """Namespace ids the kernel announced as deleted, from whatever arrives before `deadline`."""
        ready, _, _ = select.select([self.events], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return set()
        try:
            data = self.events.recv(1 << 20)
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            return self._gone_by_polling()
        gone, offset = set(), 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind == _RTM_DELNSID:
                attr, end = offset + 20, offset + length    # nlmsghdr (16) + rtgenmsg (4, padded)
                while attr + 8 <= end:
                    attr_len, attr_type = struct.unpack_from("=HH", data, attr)
                    if attr_type == _NETNSA_NSID:
                        gone.add(struct.unpack_from("=i", data, attr + 4)[0])
                    attr += max(4, (attr_len + 3) & ~3)
            offset += max(16, (length + 3) & ~3)
        return gone

    def _gone_by_polling(self) -> set[int]:
        """After an event overflow: ask the kernel which of the ids still name a namespace."""
        gone = set()
        for nsid in self.watched | ({self.sentinel_id} if self.sentinel_id is not None else set()):
            try:
                self.ipr.get_netnsid(nsid=nsid)
            except NetlinkError:
                gone.add(nsid)
        return gone

    def close(self) -> None:
        self.disarm()
        self.ipr.close()
        self.events.close()
