"""Shaping one interface's egress. tbf for rate and queue, netem for delay, jitter and loss where the kernel
has it; without netem, loss falls back to an nftables egress rule and delay cannot be emulated (yet)."""
from __future__ import annotations

import subprocess

from pyroute2 import IPRoute

from labctl.errors import LabError
from labctl.kernel.netlink import RequestFailed
from labctl.kernel.probe import Capabilities
from labctl.plan import Shaping

ROOT = 0x10000          # handle 1:
NETEM_UNDER_TBF = 0x20000
_MTU = 1514


def unsupported(params: Shaping, caps: Capabilities) -> list[str]:
    """What in `params` this kernel cannot do, as readable phrases (empty when all is possible)."""
    missing = []
    if not caps.qdiscs.get("netem"):
        if params.delay_ms or params.jitter_ms:
            missing.append("delay/jitter need the netem qdisc (sch_netem), which this kernel lacks")
        if params.loss_pct and not caps.nft_egress:
            missing.append("loss needs netem or nftables' netdev egress hook; this kernel has neither")
    if (params.rate_bps or params.queue_packets) and not caps.qdiscs.get("tbf"):
        missing.append("rate/queue need the tbf qdisc")
    return missing


def _tbf(params: Shaping) -> dict:
    rate = params.rate_bps or 10**10           # a queue alone: shape at 10 Gbit/s, i.e. only bound the queue
    burst = max(rate // 8 // 250, 2 * _MTU)  # 4 ms worth of bytes
    limit = (params.queue_packets or max(100, rate // 8 // 20 // _MTU)) * _MTU   # queue given in packets, else ~50 ms
    return {"rate": f"{rate}bit", "burst": burst, "limit": limit}


def _nft_loss(namespace: str, ifname: str, loss: float | None) -> None:
    table = f"labctl_{ifname.replace('.', '_').replace('-', '_')}"
    script = f"table netdev {table}\ndelete table netdev {table}\n"
    if loss:
        script += (f"table netdev {table} {{\n chain egress {{\n"
                   f"  type filter hook egress device \"{ifname}\" priority 0;\n"
                   f"  numgen random mod 1000000 < {int(loss * 10000)} counter drop\n }}\n}}\n")
    done = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], input=script, text=True,
                          capture_output=True)
    if done.returncode:
        raise LabError(f"{namespace} {ifname}: nft loss rule failed: {done.stderr.strip()}")


def apply(ipr: IPRoute, namespace: str, ifname: str, params: Shaping, caps: Capabilities,
          replacing: bool = False) -> None:
    """Shape `ifname` as `params` says; `replacing` also removes shaping it had before (all None: none)."""
    index = ipr.index(ifname)
    try:
        ipr.tc("del", index=index, handle=0, parent=0xFFFFFFFF)   # back to the default qdisc
    except RequestFailed:                       # it had the default qdisc already
        pass
    netem = caps.qdiscs.get("netem") and (params.delay_ms or params.jitter_ms or params.loss_pct)
    if params.rate_bps or params.queue_packets:
        ipr.tc("add", "tbf", index, ROOT, **_tbf(params))
    if netem:
        parent = {"parent": ROOT + 1} if params.rate_bps or params.queue_packets else {}
        ipr.tc("add", "netem", index, NETEM_UNDER_TBF if parent else ROOT, **parent,
               delay=int((params.delay_ms or 0) * 1000), jitter=int((params.jitter_ms or 0) * 1000),
               loss=params.loss_pct or 0, limit=params.queue_packets or 1000)
    if caps.nft_egress and not netem and (params.loss_pct or replacing):
        _nft_loss(namespace, ifname, params.loss_pct)
