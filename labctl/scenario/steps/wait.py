"""`wait:` steps: a pause (`wait: 2s`), or waiting until an assertion holds (`wait: {until: {assert: ...}}`),
which is an error if it has not held by the timeout."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from labctl.scenario import timing
from labctl.scenario.model import StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.assert_ import AssertStep
from labctl.scenario.steps.base import Step
from labctl.units import Duration

if TYPE_CHECKING:
    from labctl.scenario.context import Context
    from labctl.scenario.load import Parser


@STEP_KINDS.register("wait", order=4)
class WaitStep(Step):
    seconds: Duration | None = Field(None, alias="wait")     # `wait: 2s`
    until: dict | None = None                  # an assertion step that must come to hold: its AssertStep once parsed
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _something_to_wait_for(self) -> "WaitStep":
        if self.seconds is None and self.until is None:
            raise ValueError("wait needs a duration (wait: 2s) or a condition (wait: {until: {assert: ...}})")
        return self

    @classmethod
    def parse(cls, raw: dict, loc: tuple, parser: "Parser") -> Step | None:
        if not isinstance(raw["wait"], dict):
            return super().parse(raw, loc, parser)
        here = loc + ("wait",)                      # wait: {until: {assert: ...}, timeout: 20s}
        step = parser.validate(cls, raw["wait"] | {k: v for k, v in raw.items() if k != "wait"}, here)
        if step and step.until is not None:
            step.until = parser.step(step.until, here + ("until",))
            if step.until is not None and not isinstance(step.until, AssertStep):
                parser.fail(here + ("until",), f"expected an assertion, e.g. {{assert: reach, from: h1, to: h2}}"
                                               f" (got a {step.until.kind} step)")
        return step

    def title(self) -> str:
        if self.name:
            return self.name
        return f"wait until {self.until.title()}" if isinstance(self.until, Step) else f"wait {self.seconds or 0:g} s"

    def nested(self) -> list[tuple[tuple, Step]]:
        return [(("wait", "until"), self.until)] if isinstance(self.until, AssertStep) else []

    def execute(self, ctx: "Context", result: StepResult) -> None:
        if self.until is None:
            timing.sleep(self.seconds or 0)
            result.observed = f"waited {self.seconds or 0:g} s"
            return
        observation, result.attempts = timing.check_until(ctx, self.until, self.timeout, None)
        result.expected = f"{self.until.title()} within {self.timeout:g} s"
        result.observed, result.evidence = observation.observed, observation.evidence
        if not observation.ok:
            result.status = "error"
            result.observed = f"still not true after {self.timeout:g} s: {observation.observed}"
