"""Which back end shapes each direction of a link, and where: the kernel's qdiscs on the sender's interface when
this kernel has all they need, else labctl's link emulator (NFQUEUE), on the sender's egress or, when the sender
is a switch, on the receiver's ingress. What neither can do is refused, saying why."""
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
        where = f"{self.node}:{self.ifname}" + (" ingress" if self.hook == "ingress" else "")
        return f"{self.sender} -> {self.receiver}: {'kernel qdiscs' if self.backend == 'kernel' else 'labctl emulator'}" \
               f" on {where}"


def emulator_unsupported(shaping: Shaping, caps: Capabilities) -> list[str]:
    missing = [] if caps.nfqueue else ["the emulator needs iptables' NFQUEUE target, which this kernel lacks"]
    if shaping.aqm == "red":
        missing.append("the emulator has CoDel and FQ-CoDel, not red")
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
        ip_end = [(n, i, hook) for n, i, hook in ((sender, s_if, "egress"), (receiver, r_if, "ingress"))
                  if plan.node(n).kind != "switch"]
        emulator = emulator_unsupported(shaping, caps)
        if not ip_end:
            emulator.append("the emulator works where a node routes or receives, and both ends are switches")
        if preference == "kernel" or emulator:
            reasons = (kernel if preference != "emulator" else []) + (emulator if preference != "kernel" else [])
            raise LabError(f"link {link.label()}: {what} cannot be shaped: {'; '.join(reasons)}")
        node, ifname, hook = ip_end[0]
        found.append((shaping, Placement("emulator", node, ifname, hook, sender, receiver)))
    return found
