"""Node faults: `node_stop` and `node_start` (a node fails and comes back), and `kill` (a signal to the processes
of one name on a node)."""
from __future__ import annotations

import signal

from pydantic import Field, field_validator

from labctl.runtime import lab
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from labctl.scenario.steps.fault import FaultStep


class NodeFault(FaultStep):
    """A fault of one node; services.py's faults build on it."""

    node_fields = ("node",)
    node: str

    def title(self) -> str:
        return self.name or f"{self.fault} {self.node}"


@FAULTS.register("node_stop")
class NodeStop(NodeFault):
    def inject(self, ctx: Context) -> str:
        ended = lab.stop_node(ctx.lab, self.node)
        return f"{self.node} stopped: links down, services stopped, {ended} other processes ended"


@FAULTS.register("node_start")
class NodeStart(NodeFault):
    def inject(self, ctx: Context) -> str:
        lab.start_node(ctx.lab, self.node)
        return f"{self.node} started: its links up again with their routes, its services healthy"


@FAULTS.register("kill")
class Kill(NodeFault):
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
