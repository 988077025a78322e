"""Step models of a scenario file. Each assertion and fault is a pydantic model registered under its name;
a step's model is the registered one plus the keys every step of its kind has."""
from __future__ import annotations

from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.scenario.model import Observation
from labctl.units import Duration, Rate

if TYPE_CHECKING:
    from labctl.scenario.context import Context


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: ClassVar[str]
    node_fields: ClassVar[tuple[str, ...]] = ()   # fields that name lab nodes, checked against the topology
    links_key: ClassVar[tuple[str, ...]] = ()     # where links() comes from in the file, for error messages
    name: str | None = None

    def title(self) -> str:
        """How reports name the step when the file gives no `name:`."""
        return self.name or f"{self.kind} {self.given()}".strip()

    def given(self, exclude: frozenset[str] = frozenset()) -> str:
        """The keys the file gives, as 'key value' ('via r1 r2, count 5'), with YAML key names."""
        values = self.model_dump(exclude={"name", *exclude}, exclude_none=True, exclude_unset=True, by_alias=True)
        return ", ".join(f"{key} {_shown(value)}" for key, value in values.items())

    def links(self) -> list[tuple[str, str]]:
        """Links (as node pairs) the step acts on, checked against the topology."""
        return []

    def node_refs(self) -> list[tuple[tuple, str]]:
        """The node names the step refers to, each with its key path in the step as written in the file
        (('from',), ('via', 1)); addresses and ${variables} in those fields are not names."""
        found: list[tuple[tuple, str]] = []
        for field_name in self.node_fields:
            key = type(self).model_fields[field_name].alias or field_name
            value = getattr(self, field_name)
            if isinstance(value, list):
                found += [((key, i), v) for i, v in enumerate(value)]
            elif value:
                found.append(((key,), value))
        return [(key, n) for key, n in found if "${" not in n and not is_address(n)]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(_shown, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def is_address(text: str) -> bool:
    try:
        ip_address(text)
        return True
    except ValueError:
        return False


class AssertStep(Step):
    """Keys every assertion has. Subclasses (one per assertion) add their own and implement check()."""

    kind: ClassVar[str] = "assert"
    assertion: ClassVar[str]
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


class FaultStep(Step):
    kind: ClassVar[str] = "fault"
    fault: ClassVar[str]

    def inject(self, ctx: "Context") -> str:
        """Do it; return a line saying what was done."""
        raise NotImplementedError

    def title(self) -> str:
        return self.name or f"{self.fault} {self.given()}".strip()


ASSERTIONS: dict[str, type[AssertStep]] = {}
FAULTS: dict[str, type[FaultStep]] = {}


def _registrar(registry: dict, attribute: str):
    def decorator(name: str):
        def register(cls: type[Step]) -> type[Step]:
            setattr(cls, attribute, name)
            registry[name] = cls
            return cls
        return register
    return decorator


# Class decorators: @assertion("reach") registers the value of `assert:` in a step; @fault("link_down") of `fault:`.
assertion = _registrar(ASSERTIONS, "assertion")
fault = _registrar(FAULTS, "fault")


class TrafficStep(Step):
    kind: ClassVar[str] = "traffic"
    node_fields = ("src", "dst")
    action: Literal["start", "stop"] = Field(alias="traffic")
    id: str
    type: Literal["ping", "iperf3", "http"] | None = None
    src: str | None = Field(None, alias="from")
    dst: str | None = Field(None, alias="to")
    interval: Duration = 0.1                    # ping and http: time between probes
    duration: Duration | None = None            # iperf3: stop by itself after this long
    protocol: Literal["tcp", "udp"] = "tcp"    # iperf3
    bandwidth: Rate | None = None              # iperf3 -b
    port: int = Field(8080, ge=1, le=65535)    # http: the server port on `to`

    def title(self) -> str:
        flow = f" ({self.type} {self.src} -> {self.dst})" if self.action == "start" else ""
        return self.name or f"traffic {self.action} {self.id}{flow}"

    @model_validator(mode="after")
    def _start_needs_flow(self) -> "TrafficStep":
        missing = [key for key, value in (("type", self.type), ("from", self.src), ("to", self.dst)) if not value]
        if self.action == "start" and missing:
            raise ValueError(f"traffic: start needs type (ping, iperf3 or http), from and to; missing: "
                             f"{', '.join(missing)}")
        return self


class WaitStep(Step):
    kind: ClassVar[str] = "wait"
    seconds: Duration | None = Field(None, alias="wait")     # `wait: 2s`
    until: dict | None = None                  # an assertion step that must come to hold
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _something_to_wait_for(self) -> "WaitStep":
        if self.seconds is None and self.until is None:
            raise ValueError("wait needs a duration (wait: 2s) or a condition (wait: {until: {assert: ...}})")
        return self

    def title(self) -> str:
        if self.name:
            return self.name
        return f"wait until {self.until.title()}" if isinstance(self.until, Step) else f"wait {self.seconds or 0:g} s"


class ExecStep(Step):
    kind: ClassVar[str] = "exec"
    node_fields = ("node",)
    node: str = Field(alias="exec")
    cmd: str
    capture: str | None = Field(None, description="store stdout in this variable: ${name} in later steps")
    timeout: Duration = 30.0

    def title(self) -> str:
        return self.name or f"exec on {self.node}: {self.cmd}"


class ConfigStep(Step):
    kind: ClassVar[str] = "config"
    node_fields = ("node",)
    node: str = Field(alias="config")
    cmd: str | list[str]
    timeout: Duration = 30.0

    def title(self) -> str:
        return self.name or f"config {self.node}: {'; '.join([self.cmd] if isinstance(self.cmd, str) else self.cmd)}"


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    topology: str | None = None
    setup: list[dict] = []
    steps: list[dict]
    teardown: list[dict] = []

    @field_validator("steps")
    @classmethod
    def _not_empty(cls, value: list[dict]) -> list[dict]:
        if not value:
            raise ValueError("a scenario needs at least one step")
        return value
