"""`traffic:` steps: `start` a background flow of a registered type (ping, iperf3, http: flows/) under an id, or
`stop` the flow of an id and record what it measured."""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from labctl.scenario import traffic
from labctl.scenario.flows import FLOWS
from labctl.scenario.model import StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.base import Step
from labctl.units import Duration, Rate

if TYPE_CHECKING:
    from labctl.scenario.context import Context
    from labctl.scenario.load import Parser


@STEP_KINDS.register("traffic", order=3)
class TrafficStep(Step):
    node_fields = ("src", "dst")
    action: Literal["start", "stop"] = Field(alias="traffic")
    id: str
    type: str | None = None                     # a flow type, with start
    src: str | None = Field(None, alias="from")
    dst: str | None = Field(None, alias="to")
    interval: Duration = 0.1                    # ping and http: time between probes
    duration: Duration | None = None            # iperf3: stop by itself after this long
    protocol: Literal["tcp", "udp"] = "tcp"    # iperf3
    bandwidth: Rate | None = None              # iperf3 -b
    parallel: int = Field(1, ge=1, le=128)     # iperf3 -P: streams
    congestion: str | None = Field(None, pattern=r"^[a-z0-9_]+$")   # iperf3 -C: cubic, reno, bbr, ...
    port: int | None = Field(None, ge=1, le=65535)   # http: default the web service's on `to`, else 80

    @classmethod
    def parse(cls, raw: dict, loc: tuple, parser: "Parser") -> Step | None:
        if raw.get("type") is not None and not parser.lookup(FLOWS, raw["type"], loc + ("type",)):
            return None
        return super().parse(raw, loc, parser)

    def title(self) -> str:
        flow = f" ({self.type} {self.src} -> {self.dst})" if self.action == "start" else ""
        return self.name or f"traffic {self.action} {self.id}{flow}"

    @model_validator(mode="after")
    def _start_needs_flow(self) -> "TrafficStep":
        missing = [key for key, value in (("type", self.type), ("from", self.src), ("to", self.dst)) if not value]
        if self.action == "start" and missing:
            *others, last = FLOWS.names()
            raise ValueError(f"traffic: start needs type ({', '.join(others)} or {last}), from and to; missing: "
                             f"{', '.join(missing)}")
        return self

    def execute(self, ctx: "Context", result: StepResult) -> None:
        result.observed = traffic.start(ctx, self) if self.action == "start" else traffic.stop(ctx, self)
