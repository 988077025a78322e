"""`fault:` steps: the fault named by the value, injected into the running lab. The faults themselves: faults/."""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from labctl.scenario.faults import FAULTS
from labctl.scenario.model import StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.base import NamedStep

if TYPE_CHECKING:
    from labctl.scenario.context import Context


@STEP_KINDS.register("fault", order=2)
class FaultStep(NamedStep):
    """Subclasses (one per fault) add their keys and implement inject()."""

    models = FAULTS
    fault: ClassVar[str]                           # its name, set by FAULTS

    def inject(self, ctx: "Context") -> str:
        """Do it; return a line saying what was done."""
        raise NotImplementedError

    def title(self) -> str:
        return self.name or f"{self.fault} {self.given()}".strip()

    def execute(self, ctx: "Context", result: StepResult) -> None:
        result.observed = self.inject(ctx)
