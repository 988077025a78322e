"""Service faults: `service_stop`, `service_start` and `service_restart` of one service on one node. A stopped
service is not a failure in the report; `service_start` returns once the service is healthy again."""
from __future__ import annotations

from labctl.errors import LabError
from labctl.plan import Plan
from labctl.runtime import lab
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from labctl.scenario.faults.nodes import NodeFault


class _ServiceFault(NodeFault):
    service: str

    def title(self) -> str:
        return self.name or f"{self.fault} {self.service} on {self.node}"

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        try:
            plan.node(self.node).service_named(self.service)
        except LabError as exc:
            return [(("service",), str(exc))]
        return []


@FAULTS.register("service_stop")
class ServiceStop(_ServiceFault):
    def inject(self, ctx: Context) -> str:
        lab.service_stop(ctx.lab, self.node, self.service)
        return f"{self.service} on {self.node} stopped"


@FAULTS.register("service_start")
class ServiceStart(_ServiceFault):
    def inject(self, ctx: Context) -> str:
        lab.service_start(ctx.lab, self.node, self.service)
        return f"{self.service} on {self.node} started and healthy"


@FAULTS.register("service_restart")
class ServiceRestart(_ServiceFault):
    def inject(self, ctx: Context) -> str:
        lab.service_restart(ctx.lab, self.node, self.service)
        return f"{self.service} on {self.node} restarted and healthy"
