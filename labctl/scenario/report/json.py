"""Scenario results as JSON: the dataclasses as they are, plus a few computed fields. `read_json` reads it back.

The document (key names are stable; new keys may be added, none renamed or removed within a format version):

    {
      "format": "labctl-scenario-results",
      "version": 1,
      "summary": {"scenarios": 2, "passed": 1, "failed": 1},
      "scenarios": [
        {
          "name", "file", "lab", "description",
          "started_at": epoch seconds, "duration": seconds,
          "error": null or why the scenario could not run to the end,
          "topology_svg": SVG markup or "",
          "links": [{"link", "conditions": at the start, "shaped_by": [how each direction was shaped then],
                     "final_conditions": at the end, "counters": [what each direction's queue had seen]}]:
                   the links that were shaped during the run,
          "steps": [{"index", "phase": "setup" | "steps" | "teardown",
                     "kind": "assert" | "fault" | "traffic" | "wait" | "exec" | "config", "name",
                     "status": "passed" | "failed" | "error" | "done",
                     "started": seconds since the scenario started, "duration": seconds,
                     "expected", "observed", "evidence", "attempts", "points": null or number, "hint": null or text,
                     "series": {key: [[t, value], ...]}, "figure": SVG markup or ""}],
          "events": [{"time", "what", "evidence"}]: services that failed during the run,
          "traffic": [{"id", "kind", "src", "dst", "started", "stopped": null or seconds,
                       "series": {key: [[t, value], ...]}, "output"}],
          -- computed, ignored by read_json --
          "passed": true if no error and every step passed or is done,
          "checks": {"total", "passed", "failed", "error"}: counts of the assert steps,
          "score": {"earned", "possible"}: points over the checks that carry points (0 and 0 if none)
        }
      ]
    }

Series keys name the quantity and its unit ("rtt ms", "Mbit/s"); "outage" holds [start, end] pairs. Numbers that
are not finite (NaN, infinity) are written as null, as JSON has no such numbers.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from labctl.errors import InputError
from labctl.scenario.model import Event, LinkRecord, ScenarioResult, StepResult, TrafficRecord
from labctl.scenario.report.summary import check_counts

FORMAT, VERSION = "labctl-scenario-results", 1


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def scenario_dict(result: ScenarioResult) -> dict[str, Any]:
    data = asdict(result)
    counts = check_counts(result)
    got, total = result.score
    data["passed"] = result.passed
    data["checks"] = {"total": counts.total, "passed": counts.passed, "failed": counts.failed, "error": counts.error}
    data["score"] = {"earned": got, "possible": total}
    return _finite(data)


def results_dict(results: list[ScenarioResult]) -> dict[str, Any]:
    passed = sum(1 for r in results if r.passed)
    return {"format": FORMAT, "version": VERSION,
            "summary": {"scenarios": len(results), "passed": passed, "failed": len(results) - passed},
            "scenarios": [scenario_dict(r) for r in results]}


def write_json(results: list[ScenarioResult], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(results_dict(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def _series(data: dict[str, list]) -> dict[str, list[tuple]]:
    return {key: [tuple(point) for point in points] for key, points in data.items()}


def _build(cls: type, data: dict[str, Any]) -> Any:
    """A dataclass from its dict, ignoring keys it does not have (computed ones, or newer ones)."""
    known = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in known}
    if "series" in values:
        values["series"] = _series(values["series"])
    return cls(**values)


def read_json(path: str | Path) -> list[ScenarioResult]:
    """The results a write_json() file holds."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError([f"{path}: {exc}"]) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError([f"{path}: not a labctl scenario results file (no \"format\": \"{FORMAT}\")"])
    results = []
    for data in document["scenarios"]:
        result = _build(ScenarioResult, data)
        result.steps = [_build(StepResult, s) for s in data.get("steps", [])]
        result.traffic = [_build(TrafficRecord, t) for t in data.get("traffic", [])]
        result.events = [_build(Event, e) for e in data.get("events", [])]
        result.links = [_build(LinkRecord, link) for link in data.get("links", [])]
        results.append(result)
    return results
