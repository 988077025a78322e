"""What this machine's kernel offers of what labctl uses: the qdiscs link shaping needs, nftables' egress hook
(the loss fallback), and cgroup v2 (services). `labctl doctor` shows it, with the fallbacks that apply."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache

from labctl.kernel import cgroups, netns

QDISCS = {
    "netem": "netem delay 1ms",                            # delay, jitter, loss
    "tbf": "tbf rate 1mbit burst 10k latency 50ms",        # rate, queue
    "codel": "codel", "fq_codel": "fq_codel",              # AQM
    "red": "red limit 400000 min 30000 max 90000 avpkt 1000 burst 55 probability 0.02 bandwidth 10mbit",
    "htb": "htb default 1",                                # classes (priority and fair queues)
}


@dataclass
class Capabilities:
    qdiscs: dict[str, bool] = field(default_factory=dict)
    nft_egress: bool = False
    nfqueue: bool = False                # iptables -j NFQUEUE (the emulator's way in), IPv4 and IPv6
    cgroup2: str | None = None           # where it is mounted
    cgroup_kill: bool = False

    def features(self) -> dict[str, bool]:
        """Each feature labctl uses and whether this machine has it."""
        return {**{f"qdisc {name}": ok for name, ok in self.qdiscs.items()},
                "nftables netdev egress hook": self.nft_egress,
                "iptables NFQUEUE (IPv4 and IPv6)": self.nfqueue,
                f"cgroup v2{f' ({self.cgroup2})' if self.cgroup2 else ''}": self.cgroup2 is not None,
                "cgroup.kill": self.cgroup_kill}

    def fallbacks(self) -> list[str]:
        """Plain-language consequences of what is missing."""
        notes = []
        emulator = "labctl's link emulator" if self.nfqueue else "nothing (no NFQUEUE either: unavailable)"
        if not self.qdiscs.get("netem"):
            notes.append(f"no netem: link delay, jitter and bursty loss use {emulator}; random loss alone uses "
                         + ("an nftables egress rule" if self.nft_egress else emulator))
        missing_aqm = [q for q in ("codel", "fq_codel", "red") if not self.qdiscs.get(q)]
        if missing_aqm:
            notes.append(f"no {', '.join(missing_aqm)} qdisc: codel and fq_codel use {emulator} (its own CoDel "
                         "and FQ-CoDel, RFC 8289 and 8290)" + ("; red is unavailable" if "red" in missing_aqm else ""))
        if not self.qdiscs.get("tbf"):
            notes.append(f"no tbf: link rate and queue use {emulator}")
        if self.cgroup2 is None:
            notes.append("no cgroup v2: labs cannot run services")
        elif not self.cgroup_kill:
            notes.append("no cgroup.kill (kernel before 5.14): a service's processes are killed one by one")
        return notes


def _run(namespace: str, *args: str, stdin: bytes | None = None) -> bool:
    return subprocess.run(["ip", "netns", "exec", namespace, *args], capture_output=True,
                          input=stdin).returncode == 0


@cache
def probe() -> Capabilities:
    """Try each feature in a scratch namespace (removed afterwards)."""
    root = cgroups.mount()
    caps = Capabilities(cgroup2=str(root) if root else None)
    if root:
        probe_group = root / cgroups.ROOT_NAME / f"probe-{os.getpid()}"
        try:
            cgroups.create(probe_group)
            caps.cgroup_kill = (probe_group / "cgroup.kill").exists()
        finally:
            cgroups.remove(probe_group)
            cgroups.remove_if_empty(probe_group.parent)
    scratch = netns.create(f"labctl-probe-{os.getpid()}", {})
    try:
        _run(scratch.name, "ip", "link", "add", "p0", "up", "type", "veth", "peer", "name", "p1")
        _run(scratch.name, "ip", "link", "set", "p1", "up")
        for name, spec in QDISCS.items():
            caps.qdiscs[name] = _run(scratch.name, "tc", "qdisc", "replace", "dev", "p0", "root", *spec.split())
        _run(scratch.name, "tc", "qdisc", "del", "dev", "p0", "root")
        caps.nft_egress = bool(shutil.which("nft")) and _run(
            scratch.name, "nft", "-f", "-",
            stdin=b"table netdev t {\n chain c {\n type filter hook egress device p0 priority 0;\n }\n}\n")
        caps.nfqueue = all(shutil.which(tool) and _run(scratch.name, tool, "-w", "-t", "mangle", "-A", "POSTROUTING",
                                                       "-o", "p0", "-j", "NFQUEUE", "--queue-num", "1",
                                                       "--queue-bypass")
                           for tool in ("iptables", "ip6tables"))
    finally:
        os.close(scratch.fd)
        netns.remove(scratch.name, scratch.inode)
    return caps
