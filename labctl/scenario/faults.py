"""Faults a scenario injects: links down and up, impairments, node failures, killed processes."""
from __future__ import annotations

import signal

from pydantic import Field, field_validator

from labctl.runtime import lab
from labctl.scenario.context import Context
from labctl.scenario.steps import FaultStep, fault
from labctl.plan import Shaping
from labctl.topology.schema import LinkParams


class _LinkFault(FaultStep):
    links_key = ("link",)
    link: list[str] = Field(min_length=2, max_length=2, description="the two nodes the link joins")

    @field_validator("link", mode="before")
    @classmethod
    def _pair(cls, value: object) -> object:
        if not (isinstance(value, list) and len(value) == 2):
            raise ValueError("expected the two nodes the link joins, e.g. [r1, r2]")
        return value

    def links(self) -> list[tuple[str, str]]:
        return [(self.link[0], self.link[1])]

    def title(self) -> str:
        return self.name or f"{self.fault} {'-'.join(self.link)}"


@fault("link_down")
class LinkDown(_LinkFault):
    def inject(self, ctx: Context) -> str:
        lab.set_link(ctx.lab, *self.link, up=False)
        return f"link {'-'.join(self.link)} is down (both ends)"


@fault("link_up")
class LinkUp(_LinkFault):
    def inject(self, ctx: Context) -> str:
        lab.set_link(ctx.lab, *self.link, up=True)
        return f"link {'-'.join(self.link)} is up, static routes restored"


@fault("impair")
class Impair(_LinkFault, LinkParams):
    """New shaping for the link; keys left out mean none (impair with no keys clears it)."""

    @field_validator("mtu")
    @classmethod
    def _no_mtu(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("impair changes rate, delay, jitter, loss and queue; not the MTU of a running link")
        return value

    def title(self) -> str:
        return self.name or f"impair {'-'.join(self.link)}: {self.shaping().describe()}"

    def inject(self, ctx: Context) -> str:
        shaping = self.shaping()
        lab.impair(ctx.lab, *self.link, shaping)
        return f"link {'-'.join(self.link)} now shaped: {shaping.describe()}"


class _NodeFault(FaultStep):
    node_fields = ("node",)
    node: str

    def title(self) -> str:
        return self.name or f"{self.fault} {self.node}"


@fault("node_stop")
class NodeStop(_NodeFault):
    def inject(self, ctx: Context) -> str:
        stopped = lab.stop_node(ctx.lab, self.node)
        return f"{self.node} stopped: links down, {stopped} processes ended"


@fault("node_start")
class NodeStart(_NodeFault):
    def inject(self, ctx: Context) -> str:
        lab.start_node(ctx.lab, self.node)
        return f"{self.node} started: links up, static routes restored"


@fault("kill")
class Kill(_NodeFault):
    process: str = Field(description="the process's command name, as in ps -o comm")
    signal: str = "TERM"

    @field_validator("signal")
    @classmethod
    def _known(cls, value: str) -> str:
        name = str(value).upper().removeprefix("SIG")
        if f"SIG{name}" not in signal.Signals.__members__:      # not hasattr(): signal.SIG_IGN is no signal
            raise ValueError("unknown signal; use a name such as TERM, KILL, HUP, INT, USR1")
        return name

    def title(self) -> str:
        return self.name or f"kill {self.process} on {self.node}" + (f" (SIG{self.signal})" if self.signal != "TERM"
                                                                      else "")

    def inject(self, ctx: Context) -> str:
        count = lab.kill(ctx.lab, self.node, self.process, getattr(signal, f"SIG{self.signal}"))
        if not count:
            raise RuntimeError(f"no process named '{self.process}' runs on {self.node}")
        return f"sent SIG{self.signal} to {count} '{self.process}' process(es) on {self.node}"
