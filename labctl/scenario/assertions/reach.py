"""`reach` and `no_reach`: ping from a node to a node or address and check the loss."""
from __future__ import annotations

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import FromTo
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.outputs import ping_problem, run_ping
from labctl.units import Percent

INTERVAL = 0.2


class _Ping(FromTo):
    count: int = Field(3, ge=1, le=1000)


@ASSERTIONS.register("reach")
class Reach(_Ping):
    max_loss: Percent = Field(0.0, description="percent of the pings that may go unanswered")

    def subject(self) -> str:
        return super().subject() + (f", at most {self.max_loss:g}% loss" if self.max_loss else "")

    def check(self, ctx: Context) -> Observation:
        out, evidence = run_ping(ctx, self.src, self.target(ctx), self.count, INTERVAL, self.family)
        limit = "no loss" if self.max_loss == 0 else f"at most {self.max_loss:g}% loss"
        return Observation(out.received > 0 and out.loss <= self.max_loss,
                           f"{self.describe(ctx)} answers, {limit} over {self.count} pings",
                           out.tally() + ping_problem(ctx, out), evidence)


@ASSERTIONS.register("no_reach")
class NoReach(_Ping):
    min_loss: Percent = Field(100.0, description="percent of the pings that must go unanswered at least")

    def subject(self) -> str:
        return super().subject() + (f", at least {self.min_loss:g}% loss" if self.min_loss != 100 else "")

    def check(self, ctx: Context) -> Observation:
        out, evidence = run_ping(ctx, self.src, self.target(ctx), self.count, INTERVAL, self.family)
        limit = "no reply" if self.min_loss == 100 else f"at least {self.min_loss:g}% loss"
        return Observation(out.loss >= self.min_loss, f"{self.describe(ctx)}: {limit} over {self.count} pings",
                           out.tally() + ping_problem(ctx, out), evidence)
