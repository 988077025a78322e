"""`outage`: how long a background ping flow (a `traffic: start` step with type ping) went without replies."""
from __future__ import annotations

from pydantic import Field, model_validator

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import background_flow, bounds
from labctl.scenario.context import Context
from labctl.scenario.flows.ping import PingFlow
from labctl.scenario.model import Observation
from labctl.scenario.outputs import truncate
from labctl.scenario.steps.assert_ import AssertStep
from labctl.units import Duration


@ASSERTIONS.register("outage")
class Outage(AssertStep):
    stream: str = Field(description="the id of a ping traffic flow, running or stopped")
    max_gap: Duration | None = Field(None, alias="max", description="the longest gap between replies allowed")
    min_gap: Duration | None = Field(None, alias="min", description="a gap at least this long must have happened")

    @model_validator(mode="after")
    def _bounded(self) -> "Outage":
        if self.max_gap is None and self.min_gap is None:
            raise ValueError("give max (the longest gap allowed), min (a gap that must happen), or both")
        return self

    def subject(self) -> str:
        return f"of traffic {self.stream}: {' and '.join(bounds(self.min_gap, self.max_gap, ' s'))}"

    def check(self, ctx: Context) -> Observation:
        flow = background_flow(ctx, self.stream, PingFlow, "outage")
        now = ctx.now()
        gaps = flow.gaps(now)
        start, end = max(gaps, key=lambda gap: gap[1] - gap[0])
        longest = end - start
        if self.min_gap is None:
            expected = f"{flow.describe()}: replies never stop for more than {self.max_gap:g} s"
        else:
            expected = f"{flow.describe()}: an outage of at least {self.min_gap:g} s" + \
                (f" and at most {self.max_gap:g} s" if self.max_gap is not None else "")
        replies = len(flow.replies)
        observed = (f"longest gap {longest:.2f} s, from {start:.1f} s to {end:.1f} s; {replies} replies, "
                    f"{max(0, flow.sent - replies)} lost" + ("" if flow.record else " (flow still running)"))
        ok = (self.max_gap is None or longest <= self.max_gap) and (self.min_gap is None or longest >= self.min_gap)
        windows = [(a, b) for a, b in gaps if b - a > max(3 * flow.interval, 0.3)]
        evidence = "".join(f"{a:.2f} s - {b:.2f} s: {b - a:.2f} s without replies\n" for a, b in windows)
        return Observation(ok, expected, observed, evidence + truncate(flow.process.output, 3000),
                           {"rtt ms": flow.series()["rtt ms"], "outage": windows})
