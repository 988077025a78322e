"""The report writers (JUnit XML, JSON, HTML) on ScenarioResults built by hand."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from junitparser.junitparser import Error, Failure
from junitparser.xunit2 import JUnitXml

from labctl.errors import InputError
from labctl.scenario.model import Event, LinkRecord, ScenarioResult, StepResult, TrafficRecord
from labctl.scenario.report import read_json, write_html, write_json, write_junit
from labctl.scenario.report.html import inline_svg
from labctl.scenario.report.plots import scenario_plots
from labctl.scenario.report.summary import error_count

SVG = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
       ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg width="62pt" height="44pt" viewBox="0 0 62 44" '
       'xmlns="http://www.w3.org/2000/svg"><g id="graph0" class="graph"><title>demo</title>'
       '<text x="10" y="20">r1&#45;r2</text></g></svg>\n')
EVIDENCE_SCRIPT = "$ curl -s http://h3/\n<script>alert('x')</script>\n"


def step(index: int, kind: str, name: str, status: str, started: float, **kw) -> StepResult:
    return StepResult(index, kw.pop("phase", "steps"), kind, name, status, started, kw.pop("duration", 0.5), **kw)


def passing() -> ScenarioResult:
    """Reachability holds through a link failure; ping RTTs with an outage, and an iperf3 flow."""
    rtt = [(t / 2, 20.0 + (t % 3)) for t in range(2, 40) if not 16 <= t <= 21]
    return ScenarioResult(
        "failover", "scenarios/failover.yml", "demo", "h1 keeps reaching h4 while r1-r2 goes down",
        started_at=1_700_000_000.0, duration=21.5, topology_svg=SVG,
        steps=[step(1, "config", "enable ospf on r1", "done", 0.0, phase="setup", observed="r1 reconfigured"),
               step(2, "traffic", "traffic start ping1", "done", 0.6, observed="ping h1 -> h4 started"),
               step(3, "assert", "reach h1 h4", "passed", 1.0, duration=1.2, expected="h1 reaches h4",
                    observed="3/3 replies", evidence="$ ping -c3 h4\n3 packets transmitted, 3 received",
                    points=2.0, series={"rtt ms": [(1.0, 0.4), (1.5, 0.5), (2.0, 0.45)]}),
               step(4, "fault", "link_down r1-r2", "done", 8.0, duration=0.1, observed="r1:eth1 and r2:eth1 down"),
               step(5, "wait", "wait 5s", "done", 8.1, duration=5.0, observed="waited 5 s"),
               step(6, "assert", "max_outage ping1 3s", "passed", 13.1, expected="outage at most 3 s",
                    observed="outage 2.5 s", points=3.0,
                    series={"rtt ms": rtt, "outage": [(8.0, 10.5)]}),
               step(7, "fault", "link_up r1-r2", "done", 14.0, duration=0.1)],
        traffic=[TrafficRecord("ping1", "ping", "h1", "h4", 0.6, 20.0, {"rtt ms": rtt, "outage": [(8.0, 10.5)]},
                               "64 bytes from h4: icmp_seq=1 ttl=62 time=20.1 ms\n"),
                 TrafficRecord("bulk", "iperf3", "h2", "h3", 1.0, 19.0,
                               {"Mbit/s": [(float(t), 9.5 if not 8 <= t <= 10 else 0.0) for t in range(2, 20)]})],
        links=[LinkRecord("r1:eth1 - r2:eth0", "1.5 Mbit/s, 10 ms, queue 100 packets",
                          ["r1 -> r2: labctl emulator on r2:eth0 ingress (NFQUEUE 0)"], "1.5 Mbit/s, 10 ms, queue 20 packets",
                          ["r1 -> r2: labctl emulator: tail-drop FIFO: 900 packets in, 880 out, 20 dropped (0 lost, "
                           "20 queue full, 0 by AQM), 0 queued (at most 20)"])])


def failing() -> ScenarioResult:
    """A failed check with evidence (and markup in it), a check in error, and a teardown step in error."""
    return ScenarioResult(
        "web <reachable>", "scenarios/web.yml", "demo", started_at=1_700_000_100.0, duration=9.0,
        steps=[step(1, "assert", "http h1 h3", "failed", 1.0, duration=5.0, expected="HTTP 200",
                    observed="connection refused", evidence=EVIDENCE_SCRIPT, attempts=10, points=5.0,
                    hint="is the web server on h3 listening on port 80?"),
               step(2, "assert", "dns h1 h3", "error", 6.0, observed="dig: not found"),
               step(3, "exec", "exec h1 cleanup", "error", 7.0, phase="teardown", observed="exit 127")],
        events=[Event(4.5, "service web on h3 failed (exit 1)", "nginx: [emerg] bind() to 0.0.0.0:80 failed")])


def aborted() -> ScenarioResult:
    """Could not run to the end: a setup step failed, no check ran."""
    return ScenarioResult("broken", "scenarios/broken.yml", "lab2", duration=1.0,
                          steps=[step(1, "config", "config r1", "error", 0.1, phase="setup",
                                      observed="`vtysh -c 'conf t'` exited 1", evidence="\x1b[31mno vtysh\x1b[0m\x00")],
                          error="step 1 (config r1) could not run: `vtysh -c 'conf t'` exited 1")


def results() -> list[ScenarioResult]:
    return [passing(), failing(), aborted()]


# JUnit XML

def test_junit_parses_back_with_junitparser(tmp_path):
    path = write_junit(results(), tmp_path / "junit.xml")
    xml = JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["failover", "web <reachable>", "broken"]
    assert (xml.tests, xml.failures, xml.errors) == (2 + 3 + 2, 1, 2 + 2)

    ok = suites["failover"]
    assert (ok.tests, ok.failures, ok.errors, ok.time) == (2, 0, 0, 21.5)
    assert ok.timestamp.startswith("2023-11-")
    assert [(c.classname, c.name, c.time, c.is_passed) for c in ok] == [
        ("failover", "reach h1 h4", 1.2, True), ("failover", "max_outage ping1 3s", 0.5, True)]
    assert {p.name: p.value for p in next(iter(ok)).properties()} == {"points": "2", "points_earned": "2"}
    assert {p.name: p.value for p in ok.properties()} == {
        "file": "scenarios/failover.yml", "lab": "demo", "points_earned": "5", "points_possible": "5"}
    timeline = ok.system_out.splitlines()
    assert len(timeline) == 7
    assert "8.0s fault link_down r1-r2: done - r1:eth1 and r2:eth1 down" in timeline
    assert "14.0s fault link_up r1-r2: done" in timeline

    bad = {case.name: case for case in suites["web <reachable>"]}
    assert list(bad) == ["http h1 h3", "dns h1 h3", "exec h1 cleanup"]
    failure = bad["http h1 h3"].result[0]
    assert isinstance(failure, Failure)
    assert failure.message == "expected HTTP 200, observed connection refused"
    assert "<script>alert('x')</script>" in failure.text and "hint: is the web server" in failure.text
    assert {p.name: p.value for p in bad["http h1 h3"].properties()} == {"points": "5", "points_earned": "0"}
    assert isinstance(bad["dns h1 h3"].result[0], Error)
    assert bad["dns h1 h3"].result[0].message == "dig: not found"
    assert isinstance(bad["exec h1 cleanup"].result[0], Error)

    broken = {case.name: case for case in suites["broken"]}
    assert list(broken) == ["config r1", "scenario"]
    assert broken["scenario"].result[0].message.startswith("step 1 (config r1) could not run")
    assert broken["config r1"].result[0].text == "no vtysh\\x00"    # no colours; XML cannot hold NUL


def test_junit_parses_back_with_elementtree(tmp_path):
    root = ET.parse(write_junit(results(), tmp_path / "junit.xml")).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "1", "4")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("failover", "2", "0", "0"), ("web <reachable>", "3", "1", "2"), ("broken", "2", "0", "2")]
    assert suites[2].get("timestamp") is None          # started_at unknown
    failure = suites[1].find("testcase/failure")
    assert failure.get("message") == "expected HTTP 200, observed connection refused"
    assert failure.text.startswith("$ curl -s http://h3/\n<script>")
    assert [c.get("name") for c in suites[0].iter("testcase")] == ["reach h1 h4", "max_outage ping1 3s"]
    assert suites[0].find("system-out").text.startswith("0.0s config enable ospf on r1: done")


def test_junit_keeps_scenarios_that_look_alike_apart(tmp_path):
    root = ET.parse(write_junit([aborted(), aborted()], tmp_path / "junit.xml")).getroot()
    assert len(root.findall("testsuite")) == 2 and root.get("tests") == "4"


# JSON

def test_json_round_trips(tmp_path):
    original = results()
    path = write_json(original, tmp_path / "results.json")
    assert read_json(path) == original


def test_json_computed_fields(tmp_path):
    document = json.loads(write_json(results(), tmp_path / "results.json").read_text())
    assert (document["format"], document["version"]) == ("labctl-scenario-results", 1)
    assert document["summary"] == {"scenarios": 3, "passed": 1, "failed": 2}
    ok, bad, broken = document["scenarios"]
    assert ok["passed"] is True and bad["passed"] is False and broken["passed"] is False
    assert ok["checks"] == {"total": 2, "passed": 2, "failed": 0, "error": 0}
    assert bad["checks"] == {"total": 2, "passed": 0, "failed": 1, "error": 1}
    assert ok["score"] == {"earned": 5.0, "possible": 5.0} and bad["score"] == {"earned": 0.0, "possible": 5.0}
    assert broken["score"] == {"earned": 0, "possible": 0}
    assert ok["steps"][5]["series"]["outage"] == [[8.0, 10.5]]
    assert ok["traffic"][1]["series"]["Mbit/s"][0] == [2.0, 9.5]


def test_json_writes_non_finite_numbers_as_null(tmp_path):
    result = aborted()
    result.steps[0].series = {"rtt ms": [(1.0, float("nan")), (2.0, float("inf")), (3.0, 1.5)]}
    document = json.loads(write_json([result], tmp_path / "r.json").read_text())
    assert document["scenarios"][0]["steps"][0]["series"]["rtt ms"] == [[1.0, None], [2.0, None], [3.0, 1.5]]


def test_read_json_refuses_other_files(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"nodes": {}}')
    with pytest.raises(InputError, match="not a labctl scenario results file"):
        read_json(other)


# HTML

class _Checker(HTMLParser):
    """Collects tags, img sources and text, and the tags left open at the end."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "path", "polygon", "ellipse", "polyline", "rect", "line"}

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def html_page(tmp_path_factory) -> str:
    path = write_html(results(), tmp_path_factory.mktemp("html") / "report.html")
    return path.read_text()


def test_html_is_well_formed_and_self_contained(html_page):
    checker = _Checker()
    checker.feed(html_page)
    checker.close()
    assert checker.open == []
    assert "script" not in checker.tags and "link" not in checker.tags
    assert checker.images and all(src.startswith("data:image/png;base64,") for src in checker.images)
    assert "http://" not in html_page.replace("http://www.w3.org/", "").replace("http://h3/", "")


def test_html_shows_steps_svg_and_plots(html_page):
    for name in ("reach h1 h4", "link_down r1-r2", "max_outage ping1 3s", "http h1 h3", "exec h1 cleanup"):
        assert name in html_page
    assert '<img src="data:image/png;base64,' in html_page
    assert '<svg width="62pt"' in html_page and "<?xml" not in html_page and "<!DOCTYPE svg" not in html_page
    assert "step 6: max_outage ping1 3s - RTT" in html_page
    assert "traffic bulk (iperf3 h2 \u2192 h3) - throughput" in html_page
    assert "1 passed</b>" in html_page and "2 failed</b>" in html_page
    assert "5 / 5 points" in html_page and "0 / 5 points" in html_page
    assert "is the web server on h3 listening on port 80?" in html_page
    assert "<h3>Link conditions</h3>" in html_page and "20 queue full" in html_page
    assert "labctl emulator on r2:eth0 ingress (NFQUEUE 0)" in html_page


def test_html_escapes_evidence_and_names(html_page):
    assert "<script>alert" not in html_page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html_page
    assert "web &lt;reachable&gt;" in html_page and "web <reachable>" not in html_page


def test_html_shows_output_without_terminal_sequences(html_page):
    assert "<pre>no vtysh\\x00</pre>" in html_page and "\x1b" not in html_page


def test_error_counts_agree_with_junit(tmp_path):
    junit = ET.parse(write_junit(results(), tmp_path / "junit.xml")).getroot()
    assert [str(error_count(r)) for r in results()] == [s.get("errors") for s in junit.findall("testsuite")]


def test_inline_svg_drops_scripts_and_handlers():
    svg = '<svg onload="alert(1)"><script>alert(2)</script><g onclick=\'x()\'><text>a</text></g></svg>'
    assert str(inline_svg(svg)) == "<svg><g><text>a</text></g></svg>"
    assert str(inline_svg("not an svg")) == ""


def test_plots_per_series_kind():
    result = aborted()
    result.steps[0].series = {"outage": [(2.0, 3.5)]}                       # outages alone: a band of their own
    result.traffic = [TrafficRecord("web", "http", "h1", "h3", 0.0, None,
                                    {"http ms": [(1.0, 3.0), (2.0, float("nan")), (3.0, 4.0)], "rtt ms": []})]
    assert [p.caption for p in scenario_plots(result)] == [
        "step 1: config r1 - outages", "traffic web (http h1 \u2192 h3) - http ms"]
    assert all(p.data_uri.startswith("data:image/png;base64,iVBOR") for p in scenario_plots(result))


def test_nothing_to_report(tmp_path):
    assert ET.parse(write_junit([], tmp_path / "j.xml")).getroot().get("tests") == "0"
    assert read_json(write_json([], tmp_path / "r.json")) == []
    assert "0 scenarios" in write_html([], tmp_path / "r.html").read_text()


def test_services_that_failed_are_in_every_report(tmp_path, html_page):
    junit = write_junit(results(), tmp_path / "r.xml").read_text()
    assert "4.5s service web on h3 failed (exit 1)" in junit
    [_, back, _] = read_json(write_json(results(), tmp_path / "r.json"))
    assert back.events == failing().events
    assert "service web on h3 failed (exit 1)" in html_page and "bind() to 0.0.0.0:80 failed" in html_page
