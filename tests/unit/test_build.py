"""Bring-up and teardown on a fake machine, without root: what a lab creates, that a failure at any stage (or
Ctrl-C) leaves nothing behind, that names someone else holds stop the build before anything is made and are left
alone, and that teardown works from the journal even when the state files are damaged."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl import paths
from labctl.errors import LabError
from labctl.plan import Plan
from labctl.runtime import build, services
from labctl.runtime.state import created, load
from labctl.topology import compile_plan, load_topology
from tests.unit.fake_kernel import FakeKernel, Injected

REPO = Path(__file__).resolve().parents[2]
def demo_plan(tmp_path: Path) -> Plan:
    """The demo lab (with its shaped WAN link) with web servers on h3 and h4."""
    text = (REPO / "topologies" / "demo.yml").read_text()
    path = tmp_path / "demo.yml"
    path.write_text(text.replace("  h3: host", "  h3: {services: [web]}").replace("  h4: host", "  h4: {services: [web]}"))
    plan = compile_plan(*load_topology(path))
    assert [s.name for n in plan.nodes.values() for s in n.services] == ["web", "web"]
    return plan


def assert_nothing_left(machine: Path, kernel: FakeKernel, lab: str) -> None:
    assert kernel.lab_objects(lab) == {}
    assert not (paths.STATE_DIR / lab).exists()
    assert not list(paths.ETC_NETNS.glob(f"{lab}.*")) if paths.ETC_NETNS.exists() else True


def test_build_then_destroy(machine):
    plan, kernel = demo_plan(machine), FakeKernel()
    state = build.build(plan, backend=kernel)
    assert state.status == "running" and load("demo")[0].status == "running"
    assert sorted(kernel.namespaces) == sorted(f"demo.{n}" for n in plan.nodes)
    assert kernel.interfaces["demo.r1"] == {1: "lo", 16: "eth0", 17: "eth1"}
    assert kernel.interfaces["demo.s1"] == {1: "lo", 16: "eth0", 17: "eth1", 18: "eth2", 15: "s1"}
    assert (16, "10.0.0.2/24") in kernel.addresses["demo.h1"]
    assert kernel.routes["demo.h1"] == [("default", "10.0.0.1", 16, 20)]
    assert set(ns for ns, _ in kernel.shaped) == {"demo.r1", "demo.r2"}          # the WAN link, both ends
    hosts = (paths.ETC_NETNS / "demo.h1" / "hosts").read_text()
    assert "10.0.1.3\th4" in hosts and (paths.ETC_NETNS / "demo.r2" / "hosts").samefile(paths.ETC_NETNS / "demo.h1" / "hosts")
    assert "X-Served-By h4" in (paths.ETC_NETNS / "demo.h4" / "nginx" / "nginx.conf").read_text()
    running = [p for p in kernel.processes.values() if p.alive]
    assert [(p.namespace, p.argv[0], p.group.name) for p in running] == [("demo.h3", "nginx", "web.service"),
                                                                          ("demo.h4", "nginx", "web.service")]
    assert {s.describe().split(" (")[0] for s in services.status(kernel, "demo", plan, state)} == {"running"}
    journal = created("demo")
    assert journal.namespaces == kernel.namespaces and len(journal.etc) == 8 and len(journal.cgroups) == 1
    stopped = []
    kernel.signal = lambda pid, group, sig, signal=kernel.signal: stopped.append((pid, sig)) or signal(pid, group, sig)
    build.destroy("demo", kernel)
    assert [sig for _, sig in stopped] == [3, 3]        # asked to stop as nginx wants it (SIGQUIT), before kills
    assert_nothing_left(machine, kernel, "demo")


STAGE_FAILURES = [("create_namespace", 1), ("create_namespace", 5), ("add_veths", 1), ("add_veths", 3),
                  ("configure", 1), ("configure", 8), ("shape", 2), ("wait_up", 1), ("group_create", 1),
                  ("spawn", 1), ("spawn", 2), ("run", 1)]


@pytest.mark.parametrize("method, nth", STAGE_FAILURES)
def test_a_failure_at_any_stage_leaves_nothing(machine, method, nth):
    kernel = FakeKernel(fail=(method, nth))
    with pytest.raises(Injected):
        build.build(demo_plan(machine), backend=kernel)
    assert_nothing_left(machine, kernel, "demo")


@pytest.mark.parametrize("method, nth", [("create_namespace", 3), ("configure", 2), ("spawn", 2)])
def test_ctrl_c_at_any_stage_leaves_nothing(machine, method, nth):
    kernel = FakeKernel(interrupt=(method, nth))
    with pytest.raises(KeyboardInterrupt):
        build.build(demo_plan(machine), backend=kernel)
    assert_nothing_left(machine, kernel, "demo")


def test_a_service_that_never_gets_healthy_fails_the_build_with_its_log(machine, monkeypatch):
    monkeypatch.setattr(services.time, "monotonic", iter(range(0, 10**6, 20)).__next__)    # time flies
    kernel = FakeKernel(health=7)
    with pytest.raises(LabError, match=r"service web on h[34] is not healthy after 10 s .*exits 7.*its log ends:\n"
                                       r"--- labctl: starting web"):
        build.build(demo_plan(machine), backend=kernel)
    assert_nothing_left(machine, kernel, "demo")


def test_names_taken_by_someone_else_stop_the_build_and_are_left_alone(machine):
    kernel = FakeKernel()
    foreign = kernel.foreign_namespace("demo.h2")
    (paths.ETC_NETNS / "demo.r1").mkdir(parents=True)
    with pytest.raises(LabError) as caught:
        build.build(demo_plan(machine), backend=kernel)
    assert "demo.h2" in str(caught.value) and str(paths.ETC_NETNS / "demo.r1") in str(caught.value)
    assert kernel.calls == {} and kernel.namespaces == {"demo.h2": foreign}
    assert [p.alive for p in kernel.processes.values()] == [True]
    assert (paths.ETC_NETNS / "demo.r1").is_dir() and not (paths.STATE_DIR / "demo").exists()


def test_a_name_taken_between_the_check_and_the_creation(machine):
    kernel = FakeKernel()
    original = kernel.create_namespace

    def racing(name, sysctls, record):
        if name == "demo.r1":                     # someone makes it just before labctl does
            kernel.foreign_namespace(name)
        return original(name, sysctls, record)
    kernel.create_namespace = racing
    with pytest.raises(LabError, match="'demo.r1' already exists"):
        build.build(demo_plan(machine), backend=kernel)
    assert list(kernel.namespaces) == ["demo.r1"] and kernel.lab_objects("demo")["processes"]   # theirs, intact
    assert not (paths.STATE_DIR / "demo").exists()


def test_an_etc_folder_made_by_someone_else_during_the_build_is_left_alone(machine):
    kernel = FakeKernel()
    original = kernel.create_namespace

    def racing(name, sysctls, record):
        original(name, sysctls, record)
        if name == "demo.h3":                     # someone makes /etc/netns/demo.h3 just before labctl does
            (paths.ETC_NETNS / name).mkdir(parents=True)
            (paths.ETC_NETNS / name / "hosts").write_text("theirs\n")
    kernel.create_namespace = racing
    with pytest.raises(LabError, match="demo.h3 already exists"):
        build.build(demo_plan(machine), backend=kernel)
    assert (paths.ETC_NETNS / "demo.h3" / "hosts").read_text() == "theirs\n"
    assert kernel.lab_objects("demo") == {} and sorted(p.name for p in paths.ETC_NETNS.iterdir()) == ["demo.h3"]


def test_missing_programs_and_cgroups_are_refused_before_anything(machine, monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda program: None if program == "nginx" else "/bin/x")
    monkeypatch.setattr(build.cgroups, "mount", lambda: None)
    kernel = FakeKernel()
    with pytest.raises(LabError) as caught:
        build.build(demo_plan(machine), backend=kernel)
    assert "nginx (Debian package nginx) for service web on h3, h4 is not installed" in str(caught.value)
    assert "services need cgroup v2" in str(caught.value)
    assert kernel.calls == {}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_teardown_works_from_the_journal_when_the_state_is_damaged(machine, damage):
    kernel = FakeKernel()
    build.build(demo_plan(machine), backend=kernel)
    for name in ("state.json", "plan.json"):
        path = paths.STATE_DIR / "demo" / name
        if damage == "truncate":
            path.write_text(path.read_text()[:100])
        elif damage == "garbage":
            path.write_bytes(b"\x00\xff{]")
        else:
            path.unlink()
    with (paths.STATE_DIR / "demo" / "created").open("a") as journal:
        journal.write("netns demo.h9 12\nnetns demo.r\xff\x00 garbage\ncgroup\netc /etc/netns/de")   # cut short
    build.destroy("demo", kernel)
    assert_nothing_left(machine, kernel, "demo")


def test_teardown_leaves_a_namespace_that_is_no_longer_the_one_it_made(machine, caplog):
    kernel = FakeKernel()
    build.build(demo_plan(machine), backend=kernel)
    kernel.remove_namespace("demo.h2", kernel.namespaces["demo.h2"])     # someone replaced it
    theirs = kernel.foreign_namespace("demo.h2")
    build.destroy("demo", kernel)
    assert kernel.namespaces == {"demo.h2": theirs} and "not the one lab demo made" in caplog.text
    assert [p for p in kernel.processes.values() if p.alive and p.namespace == "demo.h2"]


def test_services_start_in_dependency_order_and_stop_in_reverse(machine, monkeypatch):
    plan = demo_plan(machine)
    h4 = plan.nodes["h4"].services[0]
    plan.nodes["h4"].services[0] = h4.model_copy(update={"name": "proxy", "after": ["web"]})
    monkeypatch.setitem(build.SERVICES, "proxy", build.SERVICES["web"])
    kernel, order = FakeKernel(), []
    spawn, signal = kernel.spawn, kernel.signal
    kernel.spawn = lambda ns, group, *a: order.append(("start", group.name)) or spawn(ns, group, *a)
    kernel.signal = lambda pid, group, sig: order.append(("stop", group.name)) or signal(pid, group, sig)
    build.build(plan, backend=kernel)
    build.destroy("demo", kernel)
    assert order == [("start", "web.service"), ("start", "proxy.service"),
                     ("stop", "proxy.service"), ("stop", "web.service")]


def test_the_state_records_service_pids(machine):
    kernel = FakeKernel()
    build.build(demo_plan(machine), backend=kernel)
    recorded = json.loads((paths.STATE_DIR / "demo" / "state.json").read_text())["services"]
    assert set(recorded) == {"h3/web", "h4/web"}
    assert all(kernel.processes[entry["pid"]].alive for entry in recorded.values())
    build.destroy("demo", kernel)
