"""Scenario results as JUnit XML (the xunit2 flavour pytest and Jenkins read), for CI dashboards.

- one <testsuite> per scenario (name, time, timestamp; properties file and lab, and the score if graded);
- one <testcase> per check (classname = the scenario, name = the step, time = its duration): a failed check
  holds <failure message="expected X, observed Y"> with the evidence as text, a check in error an <error>;
  graded checks carry the properties points and points_earned;
- the other steps (faults, traffic, waits, exec, config) are no test cases: the suite's <system-out> lists every
  step as a timeline ("12.3s fault link_down r1-r2: done"), then the services that failed during the run
  ("14.0s service web on h4 failed (exit 1)"). A step that could not run is also an error test case, so that
  the counts agree with the scenario's result;
- a scenario that could not run to the end (result.error) has an error test case named "scenario".
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from junitparser.junitparser import Error, Failure
from junitparser.xunit2 import JUnitXml, TestCase, TestSuite

from labctl.scenario.model import ScenarioResult, StepResult
from labctl.scenario.report.summary import is_graded, strip_ansi, timeline_line

# Characters XML 1.0 cannot hold (NUL, other control characters): shown as \xNN instead.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", strip_ansi(str(value)))


def _outcome_message(step: StepResult) -> str:
    if step.expected and step.observed:
        return f"expected {step.expected}, observed {step.observed}"
    return step.observed or step.expected or step.status


def _testcase(scenario: str, step: StepResult) -> TestCase:
    case = TestCase(_text(step.name), _text(scenario), round(step.duration, 3))
    if step.points is not None:
        case.add_property("points", f"{step.points:g}")
        case.add_property("points_earned", f"{step.earned:g}")
    if step.status in ("failed", "error"):
        outcome = (Failure if step.status == "failed" and step.is_check else Error)(_text(_outcome_message(step)))
        details = step.evidence.rstrip()
        if step.hint:
            details += f"\n\nhint: {step.hint}"
        if details.strip():
            outcome.text = _text(details.strip("\n"))
        case.result = [outcome]
    return case


def _testsuite(result: ScenarioResult) -> TestSuite:
    suite = TestSuite(_text(result.name))
    if result.started_at:
        suite.timestamp = datetime.fromtimestamp(result.started_at).astimezone().isoformat(timespec="seconds")
    suite.add_property("file", _text(result.file))
    suite.add_property("lab", _text(result.lab))
    if is_graded(result):
        got, total = result.score
        suite.add_property("points_earned", f"{got:g}")
        suite.add_property("points_possible", f"{total:g}")
    cases = [_testcase(result.name, s) for s in result.steps if s.is_check or s.status in ("failed", "error")]
    if result.error:
        case = TestCase("scenario", _text(result.name), 0.0)
        case.result = [Error(_text(result.error))]
        cases.append(case)
    suite.add_testcases(cases)
    timeline = [timeline_line(s) for s in result.steps] + [f"{e.time:.1f}s {e.what}" for e in result.events]
    if result.error:
        timeline.append(f"{result.duration:.1f}s scenario stopped: {result.error}")
    if timeline:
        suite.system_out = _text("\n".join(timeline) + "\n")
    return suite


def build_junit(results: list[ScenarioResult]) -> JUnitXml:
    xml = JUnitXml("labctl scenarios")
    for result in results:
        xml.append(_testsuite(result))      # not add_testsuite(), which merges suites that look alike
    xml.update_statistics()
    # update_statistics() sums the test cases' times; a suite lasts as long as its whole scenario did
    for suite, result in zip(xml, results):
        suite.time = round(result.duration, 3)
    xml.time = round(sum(r.duration for r in results), 3)
    return xml


def write_junit(results: list[ScenarioResult], path: str | Path) -> Path:
    path = Path(path)
    build_junit(results).write(str(path), pretty=True)
    return path
