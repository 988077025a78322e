"""What every background flow does: start its processes, stop exactly those (by pid) and keep the record of what
was measured, for the reports' plots and the outage assertion."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ClassVar

from labctl.scenario.background import Background
from labctl.scenario.context import Context
from labctl.scenario.model import Series, TrafficRecord
from labctl.scenario.outputs import truncate

if TYPE_CHECKING:
    from labctl.scenario.steps.traffic import TrafficStep


class Flow:
    """One background flow. start() starts its processes (and stops them again if it fails); stop() stops them
    and returns the record of what was measured. Stopping twice returns the same record."""

    kind: ClassVar[str]                            # its type, set by FLOWS

    def __init__(self, step: "TrafficStep"):
        self.id, self.src, self.dst = step.id, step.src or "", step.dst or ""
        self.started = 0.0
        self.stopped: float | None = None
        self.record: TrafficRecord | None = None
        self.processes: list[Background] = []

    def start(self, ctx: Context, step: "TrafficStep") -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """'ping h1 -> h4 every 0.1 s'"""
        raise NotImplementedError

    def summary(self) -> str:
        """What was measured, in a few words."""
        raise NotImplementedError

    def series(self) -> dict[str, Series]:
        raise NotImplementedError

    def details(self) -> str:
        """Text for the record besides the processes' output."""
        return ""

    def spawn(self, ctx: Context, node: str, argv: list[str], on_line: Callable[[str], object] | None = None,
              ) -> Background:
        process = Background(ctx, node, argv, on_line)
        self.processes.append(process)
        return process

    def running(self) -> bool:
        """Whether it still measures: none of its processes has ended (a client done after its duration)."""
        return self.record is None and all(p.ended is None for p in self.processes)

    def halt(self) -> None:
        """Stop what the flow runs besides its processes (threads)."""

    def stop(self, ctx: Context) -> TrafficRecord:
        if self.record is None:
            self.halt()
            outputs = [f"$ {' '.join(p.argv)}  (on {p.node})\n{truncate(p.stop(), 3000)}"
                       for p in reversed(self.processes)]
            ended = [p.ended for p in self.processes if p.ended is not None]
            self.stopped = max(ended) if ended and len(ended) == len(self.processes) else ctx.now()
            self.record = TrafficRecord(self.id, self.kind, self.src, self.dst, self.started, self.stopped,
                                        self.series(), "\n".join([self.details()] + outputs).lstrip())
        return self.record
