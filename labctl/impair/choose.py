"""Which back end shapes each direction of a link, and where: the kernel's qdiscs on the sender's interface when
this kernel has all they need, else labctl's link emulator (NFQUEUE), on the link's router or switch end: as the
packets enter it if it receives, as they leave it if it sends (a switch's port: as bridged packets enter or leave
it). Not on a host, if the link has another end: a packet its sending host still held would count against the
host's TCP socket (TCP small queues) and throttle it far below the link's rate (netem avoids that by orphaning the
packets it holds, which userspace cannot do); and a packet held after it reached its receiving host already has
its receive timestamp, so a plain `ping` (which reads that timestamp) would not see the delay (`ping -U` does).
Between two hosts, the receiver's ingress: right for TCP and for what applications see. What neither back end can
do is refused, saying why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labctl.errors import LabError
from labctl.impair import tc
from labctl.kernel.probe import Capabilities
from labctl.plan import LinkPlan, Plan, Shaping

Preference = Literal["auto", "kernel", "emulator"]


@dataclass(frozen=True)
class Placement:
    """Where one direction of a link is shaped."""

    backend: Literal["kernel", "emulator"]
    node: str
    ifname: str
    hook: Literal["egress", "ingress"]
    sender: str
    receiver: str

    def describe(self) -> str:
        """'r1 -> r2: kernel qdiscs on r1:eth1', 'h1 -> s1: labctl emulator on h1:eth0 ingress'."""
        where = f"{self.node}:{self.ifname} {self.hook}"
        return f"{self.sender} -> {self.receiver}: {'kernel qdiscs' if self.backend == 'kernel' else 'labctl emulator'}" \
               f" on {where}"


def emulator_unsupported(shaping: Shaping, caps: Capabilities) -> list[str]:
    missing = [] if caps.nfqueue else ["the emulator needs iptables' NFQUEUE target, which this kernel lacks"]
    if shaping.aqm in ("red", "prio"):
        missing.append(f"the emulator has CoDel and FQ-CoDel, not {shaping.aqm}")
    return missing


def place(plan: Plan, link: LinkPlan, caps: Capabilities, preference: Preference = "auto",
          ) -> list[tuple[Shaping, Placement]]:
    """The placement of each shaped direction of `link`; a LabError saying what cannot be done and why."""
    found = []
    for (sender, s_if), (receiver, r_if), shaping in link.directions():
        if not shaping.is_shaped():
            continue
        what = f"{sender} -> {receiver} ({shaping.describe()})"
        kernel = tc.unsupported(shaping, caps)
        if preference != "emulator" and not kernel:
            found.append((shaping, Placement("kernel", sender, s_if, "egress", sender, receiver)))
            continue
        emulator = emulator_unsupported(shaping, caps)
        if preference == "kernel" or emulator:
            reasons = (kernel if preference != "emulator" else []) + (emulator if preference != "kernel" else [])
            raise LabError(f"link {link.label()}: {what} cannot be shaped: {'; '.join(reasons)}")
        if plan.node(receiver).kind != "host" or plan.node(sender).kind == "host":
            where = (receiver, r_if, "ingress")
        else:
            where = (sender, s_if, "egress")
        found.append((shaping, Placement("emulator", *where, sender, receiver)))
    return found
