"""`config:` steps: one or more commands that change a node, each of which must succeed."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from labctl.scenario.model import StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.base import Step
from labctl.units import Duration

if TYPE_CHECKING:
    from labctl.scenario.context import Context


@STEP_KINDS.register("config", order=6)
class ConfigStep(Step):
    node_fields = ("node",)
    node: str = Field(alias="config")
    cmd: str | list[str]
    timeout: Duration = 30.0

    def commands(self) -> list[str]:
        return [self.cmd] if isinstance(self.cmd, str) else self.cmd

    def title(self) -> str:
        return self.name or f"config {self.node}: {'; '.join(self.commands())}"

    def execute(self, ctx: "Context", result: StepResult) -> None:
        for command in self.commands():
            done = ctx.shell(self.node, command, self.timeout)
            result.evidence += f"$ {command}\n{done.stdout}{done.stderr}"
            if done.returncode:
                result.status, result.observed = "error", f"`{command}` exited {done.returncode}"
                return
        result.observed = f"{self.node} reconfigured"
