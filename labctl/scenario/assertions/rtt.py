"""`rtt`: a stream of pings from a node, and thresholds on percentiles of the round-trip times. (To measure
under load, start a traffic flow in an earlier step.)"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import FromTo, bounds, percentile
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.outputs import Clock, ms, ping_problem, run_ping
from labctl.units import Duration


class Between(BaseModel):
    """`p50: {min: 500ms, max: 900ms}`: a percentile that must lie in a range (a bloated queue must show)."""

    model_config = ConfigDict(extra="forbid")
    min: Duration | None = None
    max: Duration | None = None


def _range(value: Any) -> Any:
    """A duration alone is an upper bound."""
    return value if isinstance(value, dict) or value is None else {"max": value}


Bound = Annotated[Between | None, BeforeValidator(_range)]


@ASSERTIONS.register("rtt")
class Rtt(FromTo):
    count: int = Field(20, ge=1, le=10000)
    interval: Duration = Field(0.1, gt=0)
    p50: Bound = None
    p95: Bound = None
    p99: Bound = None
    max_rtt: Bound = Field(None, alias="max")

    def limits(self) -> dict[str, tuple[float | None, float | None]]:
        """Bounds given, in ms, by the name reports use: (at least, at most)."""
        given = {"p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max_rtt}
        return {name: tuple(None if v is None else v * 1000 for v in (b.min, b.max))
                for name, b in given.items() if b is not None}

    def wanted(self) -> str:
        """'p50 at least 500 and at most 900 ms, p95 at most 1000 ms'."""
        return ", ".join(f"{name} {' and '.join(bounds(low, high))} ms" for name, (low, high) in self.limits().items())

    def subject(self) -> str:
        return super().subject() + (f": {self.wanted()}" if self.limits() else "")

    def check(self, ctx: Context) -> Observation:
        clock = Clock(ctx)
        out, evidence = run_ping(ctx, self.src, self.target(ctx), self.count, self.interval, self.family)
        expected = f"{self.describe(ctx)} over {self.count} pings: " + (self.wanted() or "replies, RTT measured")
        rtts = [rtt for _, _, rtt in out.replies]
        if not rtts:
            return Observation(False, expected, f"no replies: {out.tally()}{ping_problem(ctx, out)}", evidence)
        seen = {"p50": percentile(rtts, 50), "p95": percentile(rtts, 95), "p99": percentile(rtts, 99),
                "max": max(rtts)}
        outside = [f"{name} {ms(seen[name])} ms is above {high:g} ms" for name, (_, high) in self.limits().items()
                   if high is not None and seen[name] > high]
        outside += [f"{name} {ms(seen[name])} ms is below {low:g} ms" for name, (low, _) in self.limits().items()
                    if low is not None and seen[name] < low]
        observed = (", ".join(f"{name} {ms(value)} ms" for name, value in seen.items()) + f"; {out.tally()}")
        series = [(clock(stamp) if stamp is not None else ctx.now(), rtt) for stamp, _, rtt in out.replies]
        return Observation(not outside, expected, "; ".join(outside + [observed]), evidence, {"rtt ms": series})
