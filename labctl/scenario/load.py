"""Loading a scenario file: every step parsed into its model and checked against the topology, each problem
located at file:line, before anything runs."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from labctl.errors import InputError
from labctl.plan import Plan
from labctl.registry import Registry
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.base import Step
from labctl.topology import compile_plan, load_topology
from labctl.topology.loader import Source, load_yaml
from labctl.topology.validate import pydantic_messages

PHASES = ("setup", "steps", "teardown")


class Scenario(BaseModel):
    """The top-level keys of a scenario file; the steps stay mappings until each kind parses its own."""

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


@dataclass
class LoadedScenario:
    scenario: Scenario
    source: Source
    phases: dict[str, list[Step]] = field(default_factory=dict)
    topology: Path | None = None
    plan: Plan | None = None          # of the topology file, if the scenario names one

    @property
    def path(self) -> str:
        return self.source.path

    def plan_named(self, name: str | None) -> Plan:
        """The topology's plan for a lab of that name (compiled anew: generated files name the lab)."""
        return compile_plan(*load_topology(self.topology), name=name) if name else self.plan


class Parser:
    """Parses steps of one file, collecting every problem as a located message. Each step kind parses its own
    mapping with the help of `validate`, `lookup`, `fail` and, for steps inside it, `step`."""

    def __init__(self, source: Source):
        self.source = source
        self.errors: list[str] = []

    def fail(self, loc: tuple, message: str) -> None:
        self.errors.append(self.source.error(loc, message))

    def validate(self, model: type[Step], data: dict, loc: tuple) -> Step | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.errors += pydantic_messages(self.source, exc, model, prefix=loc)
            return None

    def lookup(self, registry: Registry, name: object, loc: tuple) -> type | None:
        """The class `name` is registered as, or None after saying it is unknown."""
        try:
            return registry.lookup(name)
        except LookupError as exc:
            self.fail(loc, str(exc))
            return None

    def step(self, raw: Any, loc: tuple) -> Step | None:
        kinds = [k for k in STEP_KINDS if isinstance(raw, dict) and k in raw]
        if len(kinds) != 1:
            self.fail(loc, f"a step is a mapping with exactly one of: {', '.join(STEP_KINDS)}"
                           + (f" (got {', '.join(kinds)})" if kinds else ""))
            return None
        return STEP_KINDS[kinds[0]].parse(raw, loc, self)

    def references(self, steps: list[tuple[tuple, Step]], plan: Plan) -> None:
        names = ", ".join(plan.nodes)
        for loc, step in steps:
            before = len(self.errors)
            for key, node in step.node_refs():
                if node not in plan.nodes:
                    self.fail(loc + key, f"unknown node '{node}'; nodes are: {names}")
            for a, b in step.links():
                if not plan.links_between(a, b):
                    self.fail(loc + step.links_key, f"no link between '{a}' and '{b}' in the topology")
            if len(self.errors) == before:
                for key, message in step.problems(plan):
                    self.fail(loc + key, message)
            self.references([(loc + key, inner) for key, inner in step.nested()], plan)


def load_scenario(path: str | Path, plan: Plan | None = None) -> LoadedScenario:
    """Parse and check a scenario. Nodes and links are checked against `plan` (a running lab's), or else the
    plan of the scenario's own topology file."""
    source = load_yaml(path)
    try:
        scenario = Scenario.model_validate(source.data)
    except ValidationError as exc:
        raise InputError(pydantic_messages(source, exc, Scenario)) from None
    parser = Parser(source)
    loaded = LoadedScenario(scenario, source)
    located: list[tuple[tuple, Step]] = []
    for phase in PHASES:
        loaded.phases[phase] = []
        for i, raw in enumerate(getattr(scenario, phase)):
            step = parser.step(raw, (phase, i))
            if step is not None:
                loaded.phases[phase].append(step)
                located.append(((phase, i), step))
    if scenario.topology:
        shown = os.path.normpath(Path(path).parent / scenario.topology)    # relative to where we run, as `path` is
        loaded.topology = Path(shown).resolve()
        if not loaded.topology.is_file():
            parser.fail(("topology",), f"file not found: {shown} ('{scenario.topology}' is taken relative to "
                                       f"the scenario file's folder)")
        else:
            topo, topo_source = load_topology(shown)
            loaded.plan = compile_plan(topo, topo_source)
    if parser.errors:
        raise InputError(parser.errors)
    if plan or loaded.plan:
        parser.references(located, plan or loaded.plan)
    if parser.errors:
        raise InputError(parser.errors)
    return loaded
