"""What this machine can do: qdiscs, netfilter features, kernel datapaths and programs. `labctl doctor` shows it."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache

from labctl.kernel import netns

QDISCS = {
    "netem": "netem delay 1ms",
    "tbf": "tbf rate 1mbit burst 10k latency 50ms",
    "htb": "htb default 1",
    "pfifo": "pfifo limit 100",
    "fq_codel": "fq_codel",
    "fq": "fq",
    "cake": "cake",
    "sfq": "sfq",
}
PROGRAMS = {
    "ip": "ip", "tc": "tc", "ping": "ping", "traceroute": "traceroute", "iperf3": "iperf3",
    "tcpdump": "tcpdump", "nft": "nft", "iptables": "iptables", "dot": "dot", "mnexec": "mnexec",
    "ethtool": "ethtool", "ovs-vsctl": "ovs-vsctl", "ovs-vswitchd": "ovs-vswitchd",
    "frr (zebra)": "/usr/lib/frr/zebra", "bird": "bird", "stayrtr": "stayrtr", "haproxy": "haproxy",
    "named": "named", "unbound": "unbound", "osken-manager": "osken-manager",
}


@dataclass
class Capabilities:
    qdiscs: dict[str, bool] = field(default_factory=dict)
    nft_egress: bool = False
    nfqueue: bool = False
    vxlan: bool = False
    tun: bool = False
    ovs_kernel: bool = False
    programs: dict[str, str | None] = field(default_factory=dict)

    def fallbacks(self) -> list[str]:
        """Plain-language consequences of what is missing."""
        notes = []
        if not self.qdiscs.get("netem"):
            notes.append("no netem: link delay and jitter are unavailable; loss uses "
                         + ("an nftables egress rule" if self.nft_egress else "nothing (unavailable)"))
        if not self.qdiscs.get("fq_codel"):
            notes.append("no fq_codel/cake: AQM experiments are unavailable; queues are tbf/pfifo tail-drop")
        if not self.ovs_kernel:
            notes.append("no Open vSwitch kernel datapath: OVS switches need the userspace (netdev) datapath")
        return notes


def _run(namespace: str, *args: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", namespace, *args], capture_output=True).returncode == 0


@cache
def probe() -> Capabilities:
    """Try each feature in a scratch namespace (removed afterwards); programs are looked up on PATH."""
    caps = Capabilities(programs={name: shutil.which(cmd) for name, cmd in PROGRAMS.items()})
    caps.tun = os.path.exists("/dev/net/tun")
    caps.ovs_kernel = os.path.isdir("/sys/module/openvswitch")
    scratch = f"labctl-probe-{os.getpid()}"
    ipr = netns.create(scratch, {})
    try:
        ipr.link("add", ifname="p0", kind="veth", peer={"ifname": "p1"})
        for name in ("lo", "p0", "p1"):
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
        for name, spec in QDISCS.items():
            caps.qdiscs[name] = _run(scratch, "tc", "qdisc", "replace", "dev", "p0", "root", *spec.split())
        _run(scratch, "tc", "qdisc", "del", "dev", "p0", "root")
        try:
            ipr.link("add", ifname="vx0", kind="vxlan", vxlan_id=42, vxlan_port=4789)
            caps.vxlan = True
        except Exception:
            caps.vxlan = False
        if caps.programs["nft"]:
            caps.nft_egress = subprocess.run(
                ["ip", "netns", "exec", scratch, "nft", "-f", "-"], capture_output=True,
                input=b"table netdev t {\n chain c {\n type filter hook egress device p0 priority 0;\n }\n}\n",
            ).returncode == 0
        if caps.programs["iptables"]:
            caps.nfqueue = _run(scratch, "iptables", "-w", "-A", "OUTPUT", "-p", "udp", "--dport", "9",
                                "-j", "NFQUEUE", "--queue-num", "1", "--queue-bypass")
    finally:
        ipr.close()
        netns.remove(scratch)
    return caps

