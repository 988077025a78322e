"""Results of running scenarios: plain data the reports read."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Series = list[tuple[float, float]]          # (seconds since the scenario started, value)


@dataclass
class Observation:
    """One check of an assertion: did it hold, what was expected, what was seen, and the raw evidence."""

    ok: bool
    expected: str
    observed: str
    evidence: str = ""
    series: dict[str, Series] = field(default_factory=dict)   # e.g. {"rtt ms": [...]}, plotted in HTML
    figure: str = ""                                          # an SVG picture of what was seen (the AS graph)


@dataclass
class StepResult:
    index: int
    phase: Literal["setup", "steps", "teardown"]
    kind: str                                # assert, fault, traffic, wait, exec, config
    name: str
    status: Literal["passed", "failed", "error", "done"]
    started: float                           # seconds since the scenario started
    duration: float
    expected: str = ""
    observed: str = ""
    evidence: str = ""
    attempts: int = 1
    points: float | None = None
    hint: str | None = None
    series: dict[str, Series] = field(default_factory=dict)
    figure: str = ""                         # SVG, drawn under the step in HTML

    @property
    def is_check(self) -> bool:
        return self.kind == "assert"

    @property
    def earned(self) -> float:
        """The points this check earned: all of them if it passed, else none."""
        return (self.points or 0) if self.status == "passed" else 0


@dataclass
class TrafficRecord:
    """Samples of a background flow, for plots: ping RTTs, iperf3 intervals, HTTP request times."""

    id: str
    kind: str
    src: str
    dst: str
    started: float
    stopped: float | None = None
    series: dict[str, Series] = field(default_factory=dict)
    output: str = ""


@dataclass
class LinkRecord:
    """A link that was shaped during a run: its conditions when the scenario started and how each direction was
    shaped (which back end, where), then its conditions at the end and what each direction's queue had seen."""

    link: str                                # 'r1:eth1 - r2:eth0'
    conditions: str
    shaped_by: list[str] = field(default_factory=list)
    final_conditions: str = ""
    counters: list[str] = field(default_factory=list)


@dataclass
class Event:
    """Something that happened to the lab during a run besides the steps: a service that failed."""

    time: float                              # seconds since the scenario started (when it was noticed)
    what: str                                # 'service web on h4 failed (exit 1)'
    evidence: str = ""                       # the end of its log


@dataclass
class ScenarioResult:
    name: str
    file: str
    lab: str
    description: str = ""
    started_at: float = 0.0                  # epoch seconds
    duration: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    traffic: list[TrafficRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    error: str | None = None                 # the scenario could not run to the end
    topology_svg: str = ""
    links: list[LinkRecord] = field(default_factory=list)

    @property
    def checks(self) -> list[StepResult]:
        return [s for s in self.steps if s.is_check]

    @property
    def passed(self) -> bool:
        return self.error is None and all(s.status in ("passed", "done") for s in self.steps)

    @property
    def score(self) -> tuple[float, float]:
        """Points earned and points possible, over the checks that carry points."""
        graded = [s for s in self.checks if s.points is not None]
        return sum(s.earned for s in graded), sum(s.points for s in graded)
