"""The kernel back end: one direction of a link shaped on its sender's interface egress with `tc`, as iproute2's
own tool writes it (pyroute2 lacks netem's Gilbert-Elliott model): tbf for rate and queue, netem for delay,
jitter and loss, and the kernel's AQM qdiscs (codel, fq_codel, red) under the tbf. Where the kernel lacks netem,
random loss can still be an nftables egress rule."""
from __future__ import annotations

import json
import subprocess

from labctl.errors import LabError
from labctl.kernel.probe import Capabilities
from labctl.plan import Shaping

_MTU = 1514
DEFAULT_QUEUE = 1000            # packets: a veth's txqueuelen, netem's default limit


def _needs_netem(shaping: Shaping) -> bool:
    return bool(shaping.delay_ms or shaping.jitter_ms or shaping.burst_loss)


def unsupported(shaping: Shaping, caps: Capabilities) -> list[str]:
    """What in `shaping` this kernel's qdiscs cannot do, as readable phrases (empty when all is possible)."""
    missing = []
    netem = caps.qdiscs.get("netem")
    if _needs_netem(shaping) and not netem:
        missing.append("delay, jitter and bursty loss need the netem qdisc (sch_netem)")
    if shaping.loss_pct and not netem and not caps.nft_egress:
        missing.append("loss needs netem or nftables' netdev egress hook")
    if (shaping.rate_bps or shaping.queue_packets or shaping.queue_bytes) and shaping.aqm != "prio" \
            and not caps.qdiscs.get("tbf"):
        missing.append("rate and queue need the tbf qdisc")
    aqm = shaping.aqm if shaping.aqm != "none" else None
    qdisc = "htb" if aqm == "prio" else aqm
    if aqm and not caps.qdiscs.get(qdisc):
        missing.append(f"aqm {aqm} needs the {qdisc} qdisc")
    if aqm and _needs_netem(shaping):
        missing.append(f"the kernel's {aqm} cannot sit behind netem's delay line here (tbf holds one child)")
    if aqm in ("red", "prio") and not shaping.rate_bps:
        missing.append(f"{aqm} needs the link's rate")
    if aqm in ("red", "prio") and (shaping.aqm_target_ms or shaping.aqm_interval_ms):
        missing.append(f"target and interval are CoDel's, not {aqm}'s")
    return missing


def _queue_bytes(shaping: Shaping) -> int:
    return shaping.queue_bytes or (shaping.queue_packets or DEFAULT_QUEUE) * _MTU


def _prio(ifname: str, shaping: Shaping) -> list[list[str]]:
    """A priority queue from htb classes at the link's rate: ICMP (pings) in class 1:10, served first, the rest in
    1:20; each class a pfifo of the link's queue."""
    rate, limit = f"{shaping.rate_bps}bit", str(shaping.queue_packets or DEFAULT_QUEUE)
    low = f"{max(shaping.rate_bps // 100, 8000)}bit"         # each class is guaranteed little: prio decides
    tc = ["tc"]
    found = [tc + f"qdisc add dev {ifname} root handle 1: htb default 20".split(),
             tc + f"class add dev {ifname} parent 1: classid 1:1 htb rate {rate} ceil {rate}".split()]
    for cls, prio in (("10", "0"), ("20", "1")):
        found += [tc + f"class add dev {ifname} parent 1:1 classid 1:{cls} htb rate {low} ceil {rate} prio {prio} "
                       f"quantum {_MTU}".split(),
                  tc + f"qdisc add dev {ifname} parent 1:{cls} handle {cls}: pfifo limit {limit}".split()]
    found += [tc + f"filter add dev {ifname} parent 1: protocol ip prio 1 u32 match ip protocol 1 0xff flowid 1:10".split(),
              tc + f"filter add dev {ifname} parent 1: protocol ipv6 prio 2 u32 match ip6 protocol 58 0xff "
                   f"flowid 1:10".split()]
    return found


def commands(ifname: str, shaping: Shaping) -> list[list[str]]:
    """The `tc` commands (after a `tc qdisc del dev IF root`) that shape `ifname`'s egress; none for no shaping."""
    if shaping.aqm == "prio":
        return _prio(ifname, shaping)
    dev = ["tc", "qdisc", "add", "dev", ifname]
    found, parent = [], ["root", "handle", "1:"]
    if shaping.rate_bps or shaping.queue_packets or shaping.queue_bytes:
        rate = shaping.rate_bps or 10**10       # a queue alone: shape at 10 Gbit/s, i.e. only bound the queue
        burst = max(rate // 8 // 250, 2 * _MTU)  # 4 ms worth of bytes
        found.append(dev + parent + ["tbf", "rate", f"{rate}bit", "burst", str(burst), "limit",
                                     str(_queue_bytes(shaping))])
        parent = ["parent", "1:1", "handle", "2:"]
    if _needs_netem(shaping) or shaping.loss_pct:
        netem = ["netem", "limit", str(shaping.queue_packets or DEFAULT_QUEUE)]
        if shaping.delay_ms:
            netem += ["delay", f"{shaping.delay_ms * 1000:.0f}us"]
            netem += [f"{shaping.jitter_ms * 1000:.0f}us"] if shaping.jitter_ms else []
        if shaping.loss_pct:
            netem += ["loss", "random", f"{shaping.loss_pct:g}%"]
        if loss := shaping.burst_loss:
            netem += ["loss", "gemodel", f"{loss.p_pct:g}%", f"{loss.r_pct:g}%", f"{loss.bad_loss_pct:g}%",
                      f"{loss.good_loss_pct:g}%"]
        found.append(dev + parent + netem)
    elif shaping.aqm and shaping.aqm != "none":
        aqm = [shaping.aqm, "limit", str(shaping.queue_packets or DEFAULT_QUEUE)]
        if shaping.aqm == "red":
            aqm = ["red", "limit", str(_queue_bytes(shaping)), "avpkt", str(_MTU), "bandwidth",
                   f"{shaping.rate_bps}bit", "adaptive", "harddrop"]
        if shaping.aqm_target_ms:
            aqm += ["target", f"{shaping.aqm_target_ms * 1000:.0f}us"]
        if shaping.aqm_interval_ms:
            aqm += ["interval", f"{shaping.aqm_interval_ms * 1000:.0f}us"]
        found.append(dev + parent + aqm)
    return found


def _run(namespace: str, argv: list[str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], input=input, text=True, capture_output=True)


def _nft_loss(namespace: str, ifname: str, loss: float | None) -> None:
    """Random loss on the egress of `ifname` with nftables, for kernels without netem; None removes it."""
    table = f"labctl_{ifname.replace('.', '_').replace('-', '_')}"
    script = f"table netdev {table}\ndelete table netdev {table}\n"
    if loss:
        script += (f"table netdev {table} {{\n chain egress {{\n"
                   f"  type filter hook egress device \"{ifname}\" priority 0;\n"
                   f"  {'' if loss >= 100 else f'numgen random mod 1000000 < {int(loss * 10000)} '}counter drop\n"
                   " }\n}\n")
    done = _run(namespace, ["nft", "-f", "-"], script)
    if done.returncode:
        raise LabError(f"{namespace} {ifname}: nft loss rule failed: {done.stderr.strip()}")


def counters(namespace: str, ifname: str) -> str:
    """What the qdiscs on `ifname` have seen: 'tbf 1200 sent, 3 dropped, 0 queued; netem ...'."""
    done = _run(namespace, ["tc", "-s", "-j", "qdisc", "show", "dev", ifname])
    try:
        qdiscs = json.loads(done.stdout) if done.returncode == 0 else []
    except ValueError:
        qdiscs = []
    return "; ".join(f"{q['kind']} {q.get('packets', 0)} sent, {q.get('drops', 0)} dropped, {q.get('qlen', 0)} queued"
                     for q in qdiscs) or f"no qdiscs seen ({done.stderr.strip() or 'tc printed nothing'})"


def apply(namespace: str, ifname: str, shaping: Shaping, caps: Capabilities) -> None:
    """Shape `ifname`'s egress as `shaping` says, replacing what it had (no shaping: back to the default)."""
    _run(namespace, ["tc", "qdisc", "del", "dev", ifname, "root"])      # fails when it had the default: fine
    nft_loss = shaping.loss_pct and not caps.qdiscs.get("netem")
    tc_shaping = shaping.model_copy(update={"loss_pct": None}) if nft_loss else shaping
    for argv in commands(ifname, tc_shaping):
        if (done := _run(namespace, argv)).returncode:
            raise LabError(f"{namespace}: `{' '.join(argv)}` failed: {done.stderr.strip()}")
    if caps.nft_egress:
        _nft_loss(namespace, ifname, shaping.loss_pct if nft_loss else None)
