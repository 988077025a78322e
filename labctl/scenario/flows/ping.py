"""`ping` flows: `ping -D -O` at a steady interval; replies are kept with their times, and the gaps between them
are what the outage assertion measures."""
from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.scenario.context import Context
from labctl.scenario.flows import FLOWS
from labctl.scenario.flows.base import Flow
from labctl.scenario.model import Series
from labctl.scenario.outputs import PING_REPLY, PING_SEQ, Clock

if TYPE_CHECKING:
    from labctl.scenario.steps.traffic import TrafficStep


@FLOWS.register("ping", order=1)
class PingFlow(Flow):
    def start(self, ctx: Context, step: "TrafficStep") -> None:
        self.interval, self.target = step.interval, ctx.address(self.dst)
        self.replies: list[tuple[float, int, float]] = []      # (scenario seconds, icmp_seq, rtt ms)
        self.sent = 0                                           # the highest icmp_seq seen
        self.clock = Clock(ctx)
        self.ctx = ctx
        argv = ["ping", "-D", "-U", "-n", "-O", "-i", f"{step.interval:g}", self.target]
        self.started = ctx.now()
        self.process = self.spawn(ctx, self.src, argv + (["-w", f"{step.duration:g}"] if step.duration else []),
                                  self._line)

    def _line(self, line: str) -> None:
        if seq := PING_SEQ.search(line):
            self.sent = max(self.sent, int(seq.group(1)))
        if reply := PING_REPLY.match(line):
            stamp = self.clock(float(reply.group(1))) if reply.group(1) else self.ctx.now()
            self.replies.append((stamp, int(reply.group(2)), float(reply.group(3))))

    def end(self, now: float) -> float:
        """When ping ended (by itself or stopped), else now."""
        return self.process.ended if self.process.ended is not None else now

    def gaps(self, now: float) -> list[tuple[float, float]]:
        """The stretches without a reply: from the start to the first reply, between replies, and from the last
        reply to the end of the flow (or now, while it runs)."""
        times = [self.started] + sorted(t for t, _, _ in self.replies) + [self.end(now)]
        return list(zip(times, times[1:]))

    def describe(self) -> str:
        return f"ping {self.src} -> {self.dst} ({self.target}) every {self.interval:g} s"

    def summary(self) -> str:
        replies = len(self.replies)
        longest = max(b - a for a, b in self.gaps(self.ctx.now()))
        return f"{replies} replies, {max(0, self.sent - replies)} lost, longest gap {longest:.2f} s"

    def series(self) -> dict[str, Series]:
        return {"rtt ms": [(t, rtt) for t, _, rtt in self.replies]}
