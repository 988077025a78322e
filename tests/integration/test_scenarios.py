"""`labctl run` and `labctl check` on real labs: the bundled scenarios, failures, reports and grading."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from labctl.paths import STATE_DIR
from tests.integration.conftest import LABCTL, REPO, labctl

SCENARIOS = REPO / "scenarios"
HERE = Path(__file__).parent / "scenarios"


def test_bundled_scenarios_pass_with_reports(tmp_path):
    run = labctl("run", str(SCENARIOS / "smoke"), str(SCENARIOS / "failover"), "--name", "t-scn",
                 "--junit", str(tmp_path / "r.xml"), "--json", str(tmp_path / "r.json"),
                 "--html", str(tmp_path / "r.html"), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    suites = ET.parse(tmp_path / "r.xml").getroot()
    assert {s.get("name") for s in suites.iter("testsuite")} == {"demo-smoke", "static-failover",
                                                                  "ospf-bfd-vs-timers", "bgp-dual-homed"}
    assert not list(suites.iter("failure")) and not list(suites.iter("error"))
    results = {s["name"]: s for s in json.loads((tmp_path / "r.json").read_text())["scenarios"]}
    outage = next(s for s in results["static-failover"]["steps"] if s["name"] == "failover cost at most 2 s of pings")
    assert outage["status"] == "passed" and "longest gap" in outage["observed"]

    def longest_gap(scenario: str, traffic: str) -> float:
        stopped = next(s for s in results[scenario]["steps"] if s["name"].startswith(f"traffic stop {traffic}"))
        return float(re.search(r"longest gap ([\d.]+) s", stopped["observed"])[1])

    # the same silent failure, detected by BFD, then by OSPF's dead interval alone
    assert longest_gap("ospf-bfd-vs-timers", "with-bfd") < 1 < 2 < longest_gap("ospf-bfd-vs-timers", "timers-only")
    assert longest_gap("bgp-dual-homed", "probe") < 1.5
    html = (tmp_path / "r.html").read_text()
    assert "traffic now goes through r3" in html and "data:image/png;base64," in html and "<svg" in html


def test_bufferbloat_suite_shows_queueing_delay_and_its_cures(tmp_path):
    run = labctl("run", str(SCENARIOS / "bufferbloat"), "--name", "t-bb", "--json", str(tmp_path / "r.json"),
                 "--html", str(tmp_path / "r.html"), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    results = {s["name"]: s for s in json.loads((tmp_path / "r.json").read_text())["scenarios"]}
    assert set(results) == {"queue-100-vs-20", "aqm", "priority", "bbr-vs-cubic"}

    def p50(scenario: str, step: str) -> float:
        observed = next(s for s in results[scenario]["steps"] if s["name"].startswith(step))["observed"]
        return float(re.search(r"p50 ([\d.]+) ms", observed)[1])

    assert p50("queue-100-vs-20", "with a 100-packet queue") > 3 * p50("queue-100-vs-20", "with a 20-packet queue")
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") >= 8


def test_bgp_suite_shows_who_follows_a_hijack_and_what_stops_it(tmp_path):
    run = labctl("run", str(SCENARIOS / "bgp"), "--name", "t-bgp", "--json", str(tmp_path / "r.json"),
                 "--html", str(tmp_path / "r.html"), timeout=400)
    assert run.returncode == 0, run.stdout + run.stderr
    results = {s["name"]: s for s in json.loads((tmp_path / "r.json").read_text())["scenarios"]}
    assert set(results) == {"exact-prefix-hijack", "subprefix-hijack", "rpki-origin-validation", "prefix-filtering",
                            "route-leak"}
    hijack = {s["name"]: s for s in results["exact-prefix-hijack"]["steps"]}
    followers = hijack["the ASes closer to the attacker follow it, the others do not"]
    assert followers["observed"].startswith("AS65010: r1, r3, r5, r6, r10; AS65009: r2, r4, r7, r8, r9")
    assert "<svg" in followers["figure"] and "AS65010" in followers["figure"]
    assert (tmp_path / "r.html").read_text().count('<tr class="figure">') == 6    # every bgp_origins check, drawn


def test_wrong_expectation_fails_with_evidence():
    run = labctl("run", str(HERE / "wrong-expectation.yml"), "--name", "t-wrong")
    assert run.returncode == 1
    out = run.stdout
    assert "wrong-expectation: h1 cannot reach h4 (failed)" in out
    assert "expected: h1 -> h4 (10.0.1.3): no reply over 3 pings" in out
    assert "observed: 3/3 replies (0% loss)" in out
    assert re.search(r"\| \[[\d.]+\] 64 bytes from 10.0.1.3", out)   # the raw ping output, no re-run needed
    assert "1/2" in out and "FAILED" in out
    assert not (STATE_DIR / "t-wrong").exists()


def test_bad_scenario_exit_2_before_anything_runs(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(f"name: bad\ntopology: {REPO / 'topologies' / 'demo.yml'}\nsteps:\n"
                   "  - assert: reach\n    from: h1\n    to: h9\n  - fault: link_down\n    link: [h1, h4]\n")
    run = labctl("run", str(bad), "--name", "t-bad")
    assert run.returncode == 2
    assert f"{bad}:6: steps.0.to: unknown node 'h9'" in run.stderr
    assert f"{bad}:8: steps.1.link: no link between 'h1' and 'h4'" in run.stderr
    assert not (STATE_DIR / "t-bad").exists()


def grade_before_and_after(topology: str, exercise: str, lab: str, failing: int, fix: list[str]) -> None:
    """A student's lab of the exercise, graded broken (2/10, `failing` checks failed, each with its hint), then
    after `fix` (`labctl exec LAB` arguments): 10/10."""
    labctl("up", str(SCENARIOS / "exercises" / topology), "--name", lab, check=True)
    try:
        exercise = str(SCENARIOS / "exercises" / exercise)
        before = labctl("check", exercise, "--lab", lab, "--json")
        assert before.returncode == 1
        score = json.loads(before.stdout)
        assert (score["score"], score["max"]) == (2, 10)
        failed = [c for c in score["checks"] if c["status"] != "passed"]
        assert all(c["hint"] for c in failed) and len(failed) == failing
        labctl("exec", lab, *fix, check=True)
        after = labctl("check", exercise, "--lab", lab)
        assert after.returncode == 0 and "score: 10/10" in after.stdout
    finally:
        labctl("down", lab, check=True)


def test_exercise_grading_before_and_after_the_fix():
    grade_before_and_after("broken-route.yml", "missing-route.yml", "t-student", 3,
                           ["r2", "--", "ip", "route", "add", "192.168.1.0/24", "via", "10.0.12.1"])


def test_bgp_exercise_grading_before_and_after_the_fix_in_vtysh():
    grade_before_and_after("broken-bgp.yml", "bgp-session.yml", "bf-student", 4,
                           ["r2", "--", "vtysh", "-c", "configure terminal", "-c", "router bgp 65002",
                            "-c", "neighbor 10.255.0.3 remote-as 65003"])


def test_keep_leaves_the_lab_up_and_lab_reuses_it():
    smoke = str(SCENARIOS / "smoke" / "demo-smoke.yml")
    labctl("run", smoke, "--name", "t-keep", "--keep", check=True, timeout=120)
    try:
        assert (STATE_DIR / "t-keep").exists()
        labctl("run", smoke, "--lab", "t-keep", check=True, timeout=120)
        assert (STATE_DIR / "t-keep").exists()          # a lab given with --lab is not taken down
    finally:
        labctl("down", "t-keep", check=True)


def test_every_fault_takes_effect():
    run = labctl("run", str(HERE / "faults.yml"), "--name", "t-faults", timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("PASS") == 5 and "FAIL" not in run.stdout and "ERROR" not in run.stdout


def test_a_lab_that_cannot_be_built_is_reported_and_exit_2(tmp_path):
    labctl("up", str(REPO / "topologies" / "demo.yml"), "--name", "t-taken", check=True)
    try:
        run = labctl("run", str(SCENARIOS / "smoke"), "--name", "t-taken", "--json", str(tmp_path / "r.json"))
        assert run.returncode == 2
        [scenario] = json.loads((tmp_path / "r.json").read_text())["scenarios"]
        assert "could not be built" in scenario["error"] and "already up" in scenario["error"]
    finally:
        labctl("down", "t-taken", check=True)


def test_ctrl_c_during_a_run_stops_traffic_and_removes_the_lab():
    run = subprocess.Popen(LABCTL + ["run", str(SCENARIOS / "smoke"), "--name", "t-intr"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not (STATE_DIR / "t-intr").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3)                   # in the middle of the steps, with background traffic running
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 130, output
    assert not (STATE_DIR / "t-intr").exists()       # and the leak check finds no process left behind
