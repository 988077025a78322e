"""Services on real labs: the web service answering, its files per node, its log, faults on it, a service that
fails to start, processes that fork or were started by hand, and a service killed behind labctl's back."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from labctl.errors import LabError
from labctl.kernel import cgroups
from labctl.runtime import lab
from labctl.runtime.backend import KernelBackend
from labctl.topology import compile_plan, load_topology
from tests.integration.conftest import LABCTL, REPO, labctl

DEMO = str(REPO / "topologies" / "demo.yml")
HERE = REPO / "tests" / "integration"


@pytest.fixture
def demo_lab():
    labctl("up", DEMO, "--name", "t-svc", "-q", check=True)
    yield "t-svc"
    labctl("down", "t-svc", check=True)


def test_web_answers_with_its_node_name_and_is_watched(demo_lab):
    status = json.loads(labctl("status", demo_lab, "--json", check=True).stdout)[demo_lab]
    assert [(s["node"], s["name"], s["state"]) for s in status["services"]] == [("h3", "web", "running"),
                                                                               ("h4", "web", "running")]
    page = labctl("exec", demo_lab, "h1", "--", "curl", "-s", "-i", "http://h4/", check=True).stdout
    assert page.endswith("\n\nh4\n") and "X-Served-By: h4" in page
    # the node's processes see its own /etc/nginx, so nginx's own tools show the lab's config
    shown = labctl("exec", demo_lab, "h4", "--", "nginx", "-T", check=True)
    assert "the web service of h4 in lab t-svc" in shown.stdout + shown.stderr
    logs = labctl("logs", demo_lab, "h4", check=True).stdout
    assert '"GET / HTTP/1.1" 200' in logs and "starting web" in logs
    unknown = labctl("logs", demo_lab, "h4", "dns")
    assert unknown.returncode == 2 and "h4 runs no service 'dns' (its services: web)" in unknown.stderr


def test_logs_follow(demo_lab):
    follow = subprocess.Popen(LABCTL + ["logs", demo_lab, "h3", "web", "-f", "-n", "0"], stdout=subprocess.PIPE,
                              text=True)
    try:
        time.sleep(1)
        labctl("exec", demo_lab, "h1", "--", "curl", "-s", "http://h3/followed", check=True)
        time.sleep(1)
    finally:
        follow.send_signal(signal.SIGINT)
        output, _ = follow.communicate(timeout=10)
    assert follow.returncode == 130 and "GET /followed" in output and "starting web" not in output


def test_faults_on_services_and_a_service_killed_behind_labctls_back(tmp_path):
    run = labctl("run", str(HERE / "scenarios" / "services.yml"), "--name", "t-svcf", "--json",
                 str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"), timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    [scenario] = json.loads((tmp_path / "r.json").read_text())["scenarios"]
    assert all(s["status"] in ("passed", "done") for s in scenario["steps"])
    [event] = scenario["events"]                     # stopped on purpose is no failure; killed is
    assert event["what"].startswith("service web on h3 failed") and "starting web" in event["evidence"]
    assert "service web on h3 failed" in run.stdout and "service web on h3 failed" in (tmp_path / "r.xml").read_text()


def test_a_service_that_cannot_start_fails_up_and_leaves_nothing():
    plan = compile_plan(*load_topology(DEMO), name="t-svcbad")
    plan.nodes["h4"].services[0].command += ["-g", "no_such_directive on;"]
    with pytest.raises(LabError) as caught:
        lab.up(plan)
    message = str(caught.value)
    assert "service web on h4 exited with status 1 while starting" in message
    assert 'unknown directive "no_such_directive"' in message        # the end of its log


def test_down_ends_what_forked_and_what_was_started_by_hand(demo_lab):
    # a daemon that left its parent (setsid, double fork), started with labctl exec
    labctl("exec", demo_lab, "h1", "--", "sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 &", check=True)
    # a process started in the lab without labctl
    hand = subprocess.Popen(["ip", "netns", "exec", f"{demo_lab}.h2", "sleep", "1000"])
    group = cgroups.lab_group(demo_lab) / "h1" / "exec.scope"
    assert cgroups.pids(group), "labctl exec runs its command in the node's exec scope"
    labctl("down", demo_lab, check=True)
    assert hand.wait(timeout=10) == -signal.SIGTERM
    labctl("up", DEMO, "--name", demo_lab, "-q", check=True)       # for the fixture's down
    # (the leak check after the test finds no process, namespace or cgroup left by the first lab)


STAGES = [("create_namespace", 4), ("add_veths", 3), ("configure", 5), ("shape", 1), ("wait_up", 1),
          ("spawn", 2)]


@pytest.mark.parametrize("method, nth", STAGES)
def test_a_failure_at_each_stage_leaves_nothing(monkeypatch, method, nth):
    """A failure injected into the real back end at each build stage (namespaces, links, addresses and routes,
    shaping, carriers, services) rolls everything back: the leak check after the test sees nothing left."""
    calls = []
    real = getattr(KernelBackend, method)

    def failing(self, *args, **kwargs):
        calls.append(method)
        if len(calls) == nth:
            raise LabError(f"injected into {method}")
        return real(self, *args, **kwargs)
    monkeypatch.setattr(KernelBackend, method, failing)
    with pytest.raises(LabError, match=f"injected into {method}"):
        lab.up(compile_plan(*load_topology(DEMO), name="t-stage"))
