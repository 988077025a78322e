"""`assert:` steps: the assertion named by the value, checked until it holds (`within`) and while it must keep
holding (`for`), with the points and hint it carries for grading. The assertions themselves: assertions/."""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.model import Observation, StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.base import NamedStep
from labctl.scenario.timing import check_until
from labctl.units import Duration

if TYPE_CHECKING:
    from labctl.scenario.context import Context


@STEP_KINDS.register("assert", order=1)
class AssertStep(NamedStep):
    """Keys every assertion has. Subclasses (one per assertion) add their own and implement check()."""

    models = ASSERTIONS
    assertion: ClassVar[str]                       # its name, set by ASSERTIONS
    within: Duration = Field(5.0, description="keep checking until it holds, for at most this long")
    hold: Duration | None = Field(None, alias="for", description="then it must keep holding this long")
    points: float | None = Field(None, ge=0)
    hint: str | None = None

    def check(self, ctx: "Context") -> Observation:
        raise NotImplementedError

    def title(self) -> str:
        return self.name or f"{self.assertion} {self.subject()}".strip()

    def subject(self) -> str:
        """What is checked, for titles: 'h1 -> h4 via r1, r2'. By default the assertion's own keys as given;
        not within, for, points or hint, which say how it is checked and graded."""
        return self.given(frozenset({"within", "hold", "points", "hint"}))

    def execute(self, ctx: "Context", result: StepResult) -> None:
        observation, result.attempts = check_until(ctx, self, self.within, self.hold)
        result.status = "passed" if observation.ok else "failed"
        result.expected, result.observed = observation.expected, observation.observed
        result.evidence, result.series, result.figure = observation.evidence, observation.series, observation.figure
        result.points, result.hint = self.points, self.hint
