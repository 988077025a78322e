"""Link faults: `link_down`, `link_up` and `impair` (new shaping), on every link between two nodes, both ends."""
from __future__ import annotations

from pydantic import Field, field_validator

from labctl.plan import LinkPlan, Plan
from labctl.runtime import lab
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from labctl.scenario.steps.fault import FaultStep
from labctl.topology.shaping import LinkShaping


class _LinkFault(FaultStep):
    links_key = ("link",)
    link: list[str] = Field(min_length=2, max_length=2, description="the two nodes the link joins")

    @field_validator("link", mode="before")
    @classmethod
    def _pair(cls, value: object) -> object:
        if not (isinstance(value, list) and len(value) == 2):
            raise ValueError("expected the two nodes the link joins, e.g. [r1, r2]")
        return value

    def links(self) -> list[tuple[str, str]]:
        return [(self.link[0], self.link[1])]

    def title(self) -> str:
        return self.name or f"{self.fault} {'-'.join(self.link)}"


@FAULTS.register("link_down")
class LinkDown(_LinkFault):
    def inject(self, ctx: Context) -> str:
        lab.set_link(ctx.lab, *self.link, up=False)
        return f"link {'-'.join(self.link)} is down (both ends)"


@FAULTS.register("link_up")
class LinkUp(_LinkFault):
    def inject(self, ctx: Context) -> str:
        lab.set_link(ctx.lab, *self.link, up=True)
        return f"link {'-'.join(self.link)} is up, static routes restored"


@FAULTS.register("impair")
class Impair(_LinkFault, LinkShaping):
    """New conditions for the link (the keys of a link in a topology file, `from:` included); keys left out mean
    none: `impair` with no keys clears them."""

    def title(self) -> str:
        return self.name or f"impair {'-'.join(self.link)}: {self.describe()}"

    def describe(self) -> str:
        forward, reverse = self.directions(*self.link)
        return LinkPlan(a=f"{self.link[0]}:", b=f"{self.link[1]}:", forward=forward, reverse=reverse).describe()

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        return [(("from", node), f"'{node}' is not an end of link {'-'.join(self.link)}; `from:` names one of "
                                 f"{' or '.join(self.link)}") for node in self.from_ if node not in self.link]

    def inject(self, ctx: Context) -> str:
        changed = lab.impair(ctx.lab, *self.link, self)
        shown = lab.link_status(ctx.lab)
        shaped_by = [by for i in changed for by in shown[i].shaped_by]
        return f"link {'-'.join(self.link)} now: {self.describe()}" + (f"; {', '.join(shaped_by)}" if shaped_by else "")
