"""`flow_rate`: the rate a background iperf3 flow (a `traffic: start` step with type iperf3) got, on average over
its intervals, leaving out its first seconds (`after`: slow start, a queue filling), within bounds."""
from __future__ import annotations

import statistics

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import background_flow, bounds
from labctl.scenario.context import Context
from labctl.scenario.flows.iperf3 import IperfFlow
from labctl.scenario.model import Observation
from labctl.scenario.steps.assert_ import AssertStep
from labctl.units import Duration, Rate, format_rate


@ASSERTIONS.register("flow_rate")
class FlowRate(AssertStep):
    stream: str = Field(description="the id of an iperf3 traffic flow, running or stopped")
    after: Duration = Field(0.0, description="leave out the flow's intervals before this long after its start")
    min_rate: Rate | None = Field(None, alias="min")
    max_rate: Rate | None = Field(None, alias="max")

    def wanted(self) -> str:
        found = bounds(*(None if r is None else r / 1e6 for r in (self.min_rate, self.max_rate)))
        return f"{' and '.join(found)} Mbit/s" if found else "measured"

    def subject(self) -> str:
        return f"of traffic {self.stream}: {self.wanted()}"

    def check(self, ctx: Context) -> Observation:
        flow = background_flow(ctx, self.stream, IperfFlow, "flow_rate")
        expected = f"{flow.describe()}: {self.wanted()}" + (f" after its first {self.after:g} s" if self.after else "")
        rates = [mbps for t, mbps, _ in flow.intervals if t - flow.started >= self.after]
        if not rates:
            return Observation(False, expected, f"no intervals after {self.after:g} s yet")
        rate = statistics.mean(rates)
        low = self.min_rate is not None and rate * 1e6 < self.min_rate
        high = self.max_rate is not None and rate * 1e6 > self.max_rate
        observed = (f"{format_rate(rate * 1e6, 3)} on average over {len(rates)} intervals"
                    + (f": below {self.min_rate / 1e6:g} Mbit/s" if low else
                       f": above {self.max_rate / 1e6:g} Mbit/s" if high else ""))
        return Observation(not (low or high), expected, observed)     # the flow's own plot shows the intervals
