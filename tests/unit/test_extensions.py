"""A new step kind, fault, assertion and traffic flow type, each written in this module alone (no labctl file
knows of them), are found by their names: a scenario using all four loads, with the usual checks, and runs."""
from __future__ import annotations

import pytest
from pydantic import Field

from labctl.errors import InputError
from labctl.scenario import runner
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from labctl.scenario.flows import FLOWS
from labctl.scenario.flows.base import Flow
from labctl.scenario.load import load_scenario
from labctl.scenario.model import Observation, ScenarioResult, Series, StepResult
from labctl.scenario.steps import STEP_KINDS
from labctl.scenario.steps.assert_ import AssertStep
from labctl.scenario.steps.base import Step
from labctl.scenario.steps.fault import FaultStep
from labctl.scenario.steps.traffic import TrafficStep
from labctl.units import Duration
from tests.unit.fake_lab import PLAN, FakeContext


@STEP_KINDS.register("note")
class NoteStep(Step):
    """`note: text`: writes a line into the report."""

    text: str = Field(alias="note")

    def execute(self, ctx: Context, result: StepResult) -> None:
        result.observed = self.text


@FAULTS.register("flap")
class Flap(FaultStep):
    node_fields = ("node",)
    node: str
    every: Duration

    def inject(self, ctx: Context) -> str:
        return f"{self.node} flaps every {self.every:g} s"


@ASSERTIONS.register("uptime")
class Uptime(AssertStep):
    node_fields = ("node",)
    node: str

    def check(self, ctx: Context) -> Observation:
        done = ctx.run(self.node, ["uptime"])
        return Observation("up" in done.stdout, f"{self.node} is up", done.stdout.strip())


@FLOWS.register("beacon")
class BeaconFlow(Flow):
    """`yes` on `from`, its lines counted."""

    def start(self, ctx: Context, step: TrafficStep) -> None:
        self.started, self.interval = ctx.now(), step.interval
        if not self.spawn(ctx, self.src, ["yes", self.dst]).wait_for(self.dst, 5):
            raise RuntimeError("no beacon")

    def describe(self) -> str:
        return f"beacon {self.src} -> {self.dst} every {self.interval:g} s"

    def summary(self) -> str:
        return f"beacons seen: {len(self.processes[0].lines)}"

    def series(self) -> dict[str, Series]:
        return {}


SCENARIO = """name: extended
steps:
  - note: four new names, no edit of labctl
  - traffic: start
    id: b
    type: beacon
    from: h1
    to: h4
  - fault: flap
    node: r1
    every: 2s
  - assert: uptime
    node: r2
    within: 0s
  - traffic: stop
    id: b
"""


def test_new_kinds_load_and_run(tmp_path):
    path = tmp_path / "extended.yml"
    path.write_text(SCENARIO)
    loaded = load_scenario(path, PLAN)
    assert [type(step) for step in loaded.phases["steps"]] == [NoteStep, TrafficStep, Flap, Uptime, TrafficStep]
    ctx = FakeContext({"uptime": " 10:00:00 up 3 days\n"}, {"yes": "h4\n"})
    result = ScenarioResult("extended", str(path), "demo")
    runner.run_steps(ctx, loaded, result, lambda *_: None)
    assert [(s.status, s.observed) for s in result.steps] == [
        ("done", "four new names, no edit of labctl"),
        ("done", "started beacon h1 -> h4 every 0.1 s (traffic 'b')"),
        ("done", "r1 flaps every 2 s"),
        ("passed", "10:00:00 up 3 days"),
        ("done", f"stopped beacon h1 -> h4 every 0.1 s after {ctx.flows['b'].record.stopped:.1f} s: beacons seen: 1")]
    assert result.passed and ctx.all_stopped()


@pytest.mark.parametrize("written, wrong, message", [
    ("every: 2s", "every: 2", "11: steps.2.every: a duration needs a unit, e.g. 20ms; units: us, ms, s, m, min, h "
                              "(got 2)"),
    ("node: r1", "node: r9", "10: steps.2.node: unknown node 'r9'; nodes are: h1, h2, h3, h4, s1, s2, r1, r2"),
    ("type: beacon", "type: beakon", "6: steps.1.type: unknown traffic type 'beakon'; valid: ping, iperf3, http, "
                                     "beacon"),
    ("note: four", "notes: four", "3: steps.0: a step is a mapping with exactly one of: assert, fault, traffic, "
                                  "wait, exec, config, note"),
])
def test_new_kinds_are_checked_like_the_others(tmp_path, written, wrong, message):
    path = tmp_path / "bad.yml"
    path.write_text(SCENARIO.replace(written, wrong))
    with pytest.raises(InputError) as caught:
        load_scenario(path, PLAN)
    assert caught.value.messages == [f"{path}:{message}"]
