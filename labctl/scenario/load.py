"""Loading a scenario file: every step parsed into its model and checked against the topology, each problem
located at file:line, before anything runs."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import labctl.scenario.assertions  # noqa: F401  (registers the assertions)
import labctl.scenario.faults  # noqa: F401  (registers the faults)
from labctl.errors import InputError
from labctl.scenario.steps import (ASSERTIONS, FAULTS, AssertStep, ConfigStep, ExecStep, Scenario, Step,
                                   TrafficStep, WaitStep)
from labctl.topology import compile_plan, load_topology
from labctl.topology.loader import Source, load_yaml
from labctl.plan import Plan
from labctl.topology.validate import pydantic_messages

STEP_KINDS = ("assert", "fault", "traffic", "wait", "exec", "config")
PHASES = ("setup", "steps", "teardown")


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


class _Parser:
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

    def step(self, raw: Any, loc: tuple) -> Step | None:
        kinds = [k for k in STEP_KINDS if isinstance(raw, dict) and k in raw]
        if len(kinds) != 1:
            self.fail(loc, f"a step is a mapping with exactly one of: {', '.join(STEP_KINDS)}"
                           + (f" (got {', '.join(kinds)})" if kinds else ""))
            return None
        kind = kinds[0]
        value, rest = raw[kind], {k: v for k, v in raw.items() if k != kind}
        # traffic:, exec:, config: and `wait: 2s` are fields of their models (aliases), so messages name them
        if kind in ("assert", "fault"):
            registry = ASSERTIONS if kind == "assert" else FAULTS
            if value not in registry:
                what = "assertion" if kind == "assert" else "fault"
                self.fail(loc + (kind,), f"unknown {what} '{value}'; valid: {', '.join(sorted(registry))}")
                return None
            return self.validate(registry[value], rest, loc)
        if kind == "traffic":
            return self.validate(TrafficStep, raw, loc)
        if kind in ("exec", "config"):
            return self.validate(ExecStep if kind == "exec" else ConfigStep, raw, loc)
        if isinstance(value, dict):                     # wait: {until: {assert: ...}, timeout: 20s}
            step = self.validate(WaitStep, value | rest, loc + (kind,))
            if step and step.until is not None:
                step.until = self.step(step.until, loc + (kind, "until"))
                if step.until is not None and not isinstance(step.until, AssertStep):
                    self.fail(loc + (kind, "until"), f"expected an assertion, e.g. {{assert: reach, from: h1, to: h2}}"
                                                     f" (got a {step.until.kind} step)")
            return step
        return self.validate(WaitStep, raw, loc)

    def references(self, steps: list[tuple[tuple, Step]], plan: Plan) -> None:
        names = ", ".join(plan.nodes)
        for loc, step in steps:
            for key, node in step.node_refs():
                if node not in plan.nodes:
                    self.fail(loc + key, f"unknown node '{node}'; nodes are: {names}")
            for a, b in step.links():
                if not plan.links_between(a, b):
                    self.fail(loc + step.links_key, f"no link between '{a}' and '{b}' in the topology")
            if isinstance(step, WaitStep) and isinstance(step.until, AssertStep):
                self.references([(loc + ("wait", "until"), step.until)], plan)


def load_scenario(path: str | Path, plan: Plan | None = None) -> LoadedScenario:
    """Parse and check a scenario. Nodes and links are checked against `plan` (a running lab's), or else the
    plan of the scenario's own topology file."""
    source = load_yaml(path)
    try:
        scenario = Scenario.model_validate(source.data)
    except ValidationError as exc:
        raise InputError(pydantic_messages(source, exc, Scenario)) from None
    parser = _Parser(source)
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
