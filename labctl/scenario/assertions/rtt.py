"""`rtt`: a stream of pings from a node, and thresholds on percentiles of the round-trip times. (To measure
under load, start a traffic flow in an earlier step.)"""
from __future__ import annotations

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import FromTo, percentile
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.outputs import Clock, ms, ping_problem, run_ping
from labctl.units import Duration


@ASSERTIONS.register("rtt")
class Rtt(FromTo):
    count: int = Field(20, ge=1, le=10000)
    interval: Duration = Field(0.1, gt=0)
    p50: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    max_rtt: Duration | None = Field(None, alias="max")

    def limits(self) -> dict[str, float]:
        """Thresholds given, in ms, by the name reports use."""
        given = {"p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max_rtt}
        return {name: value * 1000 for name, value in given.items() if value is not None}

    def subject(self) -> str:
        limits = ", ".join(f"{name} at most {value:g} ms" for name, value in self.limits().items())
        return super().subject() + (f": {limits}" if limits else "")

    def check(self, ctx: Context) -> Observation:
        clock = Clock(ctx)
        out, evidence = run_ping(ctx, self.src, self.target(ctx), self.count, self.interval, self.family)
        limits = self.limits()
        expected = (f"{self.describe(ctx)} over {self.count} pings: "
                    + (", ".join(f"{name} at most {value:g} ms" for name, value in limits.items())
                       or "replies, RTT measured"))
        rtts = [rtt for _, _, rtt in out.replies]
        if not rtts:
            return Observation(False, expected, f"no replies: {out.tally()}{ping_problem(ctx, out)}", evidence)
        seen = {"p50": percentile(rtts, 50), "p95": percentile(rtts, 95), "p99": percentile(rtts, 99),
                "max": max(rtts)}
        over = [f"{name} {ms(seen[name])} ms is above {limit:g} ms" for name, limit in limits.items()
                if seen[name] > limit]
        observed = (", ".join(f"{name} {ms(value)} ms" for name, value in seen.items()) + f"; {out.tally()}")
        series = [(clock(stamp) if stamp is not None else ctx.now(), rtt) for stamp, _, rtt in out.replies]
        return Observation(not over, expected, "; ".join(over + [observed]), evidence, {"rtt ms": series})
