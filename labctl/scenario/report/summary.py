"""What every report format computes the same way from a ScenarioResult: check counts, score, timeline lines."""
from __future__ import annotations

import re
from dataclasses import dataclass

from labctl.scenario.model import ScenarioResult, StepResult


@dataclass(frozen=True)
class CheckCounts:
    total: int
    passed: int
    failed: int
    error: int


def check_counts(result: ScenarioResult) -> CheckCounts:
    statuses = [s.status for s in result.checks]
    return CheckCounts(len(statuses), statuses.count("passed"), statuses.count("failed"), statuses.count("error"))


def error_count(result: ScenarioResult) -> int:
    """Steps that could not run (checks in error, other steps that did not succeed), plus 1 if the scenario
    could not run to the end: the errors of the JUnit report."""
    steps = sum(1 for s in result.steps if s.status == "error" or (not s.is_check and s.status == "failed"))
    return steps + (1 if result.error else 0)


def is_graded(result: ScenarioResult) -> bool:
    """Whether any check carries points (then reports show a score)."""
    return any(s.points is not None for s in result.checks)


def timeline_line(step: StepResult) -> str:
    """'12.3s fault link_down r1-r2: done - r1:eth1 and r2:eth1 down'"""
    line = f"{step.started:.1f}s {step.kind} {step.name}: {step.status}"
    return f"{line} - {step.observed}" if step.observed else line


_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """Program output without terminal colour and cursor sequences."""
    return _ANSI.sub("", text)
