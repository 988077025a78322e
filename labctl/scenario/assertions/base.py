"""What the assertion families share: the from/to keys of an assertion between two nodes, reading a command's JSON
answer on a node, and the bounds and percentiles expectations are written with."""
from __future__ import annotations

import json
import math
import shlex
from typing import Any, Literal, TypeVar

from pydantic import Field

from labctl.plan import Plan
from labctl.scenario.context import Context
from labctl.scenario.flows.base import Flow
from labctl.scenario.model import Observation
from labctl.scenario.steps.assert_ import AssertStep


class FromTo(AssertStep):
    """An assertion from a node to a node or an address."""

    node_fields = ("src", "dst")
    src: str = Field(alias="from")
    dst: str = Field(alias="to", description="a node (its primary address is used) or an address")
    family: Literal[4, 6] = 4

    def subject(self) -> str:
        """'h1 -> h4', 'h1 -> h4 (IPv6)'"""
        return f"{self.src} -> {self.dst}" + (" (IPv6)" if self.family == 6 else "")

    def target(self, ctx: Context) -> str:
        return ctx.address(self.dst, self.family)

    def describe(self, ctx: Context) -> str:
        """'h1 -> h4 (10.0.1.3)' or, for an address, 'h1 -> 10.0.1.3 (h4)'."""
        target = self.target(ctx)
        other = ctx.node_of(target) if target == self.dst else target
        return f"{self.src} -> {self.dst}" + (f" ({other})" if other and other != self.dst else "")


class JsonCheck(AssertStep):
    """An assertion that reads what a command on `node` answers in JSON (FRR's `vtysh -c 'show ... json'`,
    `ip -j route`): subclasses say which command, what they expect and what they make of the answer."""

    node_fields = ("node",)
    node: str

    def argv(self) -> list[str]:
        raise NotImplementedError

    def expectation(self, plan: Plan | None) -> str:
        """What would make it hold; without the plan (for titles) where it needs none."""
        raise NotImplementedError

    def judge(self, ctx: Context, answer: Any) -> tuple[bool, str]:
        """Whether the answer holds what is expected, and what it shows."""
        raise NotImplementedError

    def subject(self) -> str:
        return self.expectation(None)

    def check(self, ctx: Context) -> Observation:
        argv = self.argv()
        done = ctx.run(self.node, argv)
        output = (done.stdout + done.stderr).strip()
        evidence = f"$ {shlex.join(argv)}\n{done.stdout}{done.stderr}"
        expected = self.expectation(ctx.plan)
        if done.returncode:
            return Observation(False, expected, f"{argv[0]} failed (exit {done.returncode}): {output[-200:]}", evidence)
        try:
            answer = json.loads(done.stdout)
        except json.JSONDecodeError:
            return Observation(False, expected, f"{argv[0]} answered no JSON: {output[:200]!r}", evidence)
        ok, observed = self.judge(ctx, answer)
        return Observation(ok, expected, observed, evidence)


F = TypeVar("F", bound=Flow)


def background_flow(ctx: Context, stream: str, kind: type[F], assertion: str) -> F:
    """The flow `stream` of the scenario, which `assertion` needs to be of this kind."""
    flow = ctx.flows.get(stream)
    if not isinstance(flow, kind):
        raise RuntimeError(f"{assertion} needs a{'n' if kind.kind[0] in 'aeio' else ''} {kind.kind} traffic flow "
                           f"with id '{stream}'; started: "
                           f"{', '.join(f'{i} ({f.kind})' for i, f in ctx.flows.items()) or 'none'}")
    return flow


def bounds(low: float | None, high: float | None, unit: str = "") -> list[str]:
    """['at least 3', 'at most 6'] for the bounds given, each followed by `unit`."""
    return ([f"at least {low:g}{unit}"] if low is not None else []) + \
        ([f"at most {high:g}{unit}"] if high is not None else [])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * pct / 100)) - 1]
