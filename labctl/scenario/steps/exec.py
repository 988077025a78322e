"""`exec:` steps: a command on a node, done whatever its exit code, its output optionally kept as a variable
(`capture: name`, then ${name} in later steps)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from labctl.scenario.model import StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.base import Step
from labctl.units import Duration

if TYPE_CHECKING:
    from labctl.scenario.context import Context


@STEP_KINDS.register("exec", order=5)
class ExecStep(Step):
    node_fields = ("node",)
    node: str = Field(alias="exec")
    cmd: str
    capture: str | None = Field(None, description="store stdout in this variable: ${name} in later steps")
    timeout: Duration = 30.0

    def title(self) -> str:
        return self.name or f"exec on {self.node}: {self.cmd}"

    def execute(self, ctx: "Context", result: StepResult) -> None:
        done = ctx.shell(self.node, self.cmd, self.timeout)
        result.observed, result.evidence = f"exit {done.returncode}", done.stdout + done.stderr
        if self.capture:
            ctx.variables[self.capture] = done.stdout.strip()
