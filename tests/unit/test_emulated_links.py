"""Links shaped by labctl's link emulator on a fake machine without netem: the emulator runs as a service of the
lab in the lab's cgroup, NFQUEUE rules send it each emulated direction, impair reloads it, clearing the last
emulated direction stops it, and teardown or a failed build leaves nothing of it."""
from __future__ import annotations

import json

import pytest

from labctl.kernel.probe import Capabilities
from labctl.plan import Plan, Shaping
from labctl.runtime import build, impairments
from tests.unit.fake_kernel import FakeKernel, Injected
from tests.unit.test_build import assert_nothing_left, demo_plan

NO_NETEM = Capabilities(qdiscs={"netem": False, "tbf": True}, nft_egress=True, nfqueue=True, cgroup2="/fake")
WAN = 3                                                      # the demo's r1 - r2 link


@pytest.fixture
def plan(machine, monkeypatch) -> Plan:
    """The demo lab with 10 ms of delay on its WAN link, on a machine without netem."""
    monkeypatch.setattr(build, "probe", lambda: NO_NETEM)
    plan = demo_plan(machine)
    link = plan.links[WAN]
    assert link.ends() == [("r1", "eth1"), ("r2", "eth0")]
    delayed = Shaping(rate_bps=100e6, delay_ms=10)
    plan.links[WAN] = link.model_copy(update={"forward": delayed, "reverse": delayed})
    return plan


def emulator(kernel: FakeKernel):
    found = [(pid, p) for pid, p in kernel.processes.items() if p.alive and "emulate" in p.argv]
    assert len(found) <= 1
    return found[0] if found else (None, None)


def config() -> dict:
    return json.loads((impairments.folder("demo") / "config.json").read_text())


def test_the_emulator_serves_the_emulated_directions_and_goes_with_the_lab(plan):
    kernel = FakeKernel()
    state = build.build(plan, backend=kernel)
    pid, process = emulator(kernel)
    assert process.namespace is None and process.group.parent.name == "demo"        # the lab's own cgroup
    assert state.service(None, impairments.EMULATOR).pid == pid
    # each direction held on its receiving router's ingress, none by the kernel
    assert kernel.queued == {"demo.r2": [("ingress", "eth0", 0, False)], "demo.r1": [("ingress", "eth1", 0, False)]}
    assert not kernel.shaped
    assert [(p["namespace"], p["queue"], p["name"], p["shaping"]["delay_ms"]) for p in config()["pipes"]] == [
        ("demo.r2", 0, "r1 -> r2", 10), ("demo.r1", 0, "r2 -> r1", 10)]
    assert [(d.backend, d.node) for d in state.shaped[WAN]] == [("emulator", "r2"), ("emulator", "r1")]

    slower = plan.links[WAN].model_copy(update={"forward": Shaping(delay_ms=50)})
    impairments.shape_links(kernel, "demo", plan, state, {WAN: slower}, NO_NETEM)
    assert emulator(kernel)[0] == pid                                           # reloaded, not restarted
    assert config()["generation"] == 2 and [p["shaping"]["delay_ms"] for p in config()["pipes"]] == [50, 10]
    assert (impairments.folder("demo") / "ready").read_text().strip() == "2"
    assert state.impairments == {WAN: slower}

    build.destroy("demo", kernel)
    assert emulator(kernel) == (None, None)
    assert_nothing_left(None, kernel, "demo")


def test_clearing_the_last_emulated_direction_stops_the_emulator(plan):
    kernel = FakeKernel()
    state = build.build(plan, backend=kernel)
    bare = plan.links[WAN].model_copy(update={"forward": Shaping(), "reverse": Shaping()})
    impairments.shape_links(kernel, "demo", plan, state, {WAN: bare}, NO_NETEM)
    assert emulator(kernel) == (None, None) and impairments.EMULATOR not in state.lab_services
    assert kernel.queued == {"demo.r2": [], "demo.r1": []} and state.shaped[WAN] == []
    build.destroy("demo", kernel)
    assert_nothing_left(None, kernel, "demo")


def test_rate_alone_stays_in_the_kernel(plan):
    kernel = FakeKernel()
    link = plan.links[WAN]
    plan.links[WAN] = link.model_copy(update={"reverse": Shaping(rate_bps=5e6)})
    state = build.build(plan, backend=kernel)
    assert [(d.backend, d.node, d.hook) for d in state.shaped[WAN]] == [("emulator", "r2", "ingress"),
                                                                       ("kernel", "r2", "egress")]
    assert kernel.shaped == {("demo.r2", "eth0"): Shaping(rate_bps=5e6)} and list(kernel.queued) == ["demo.r2"]
    build.destroy("demo", kernel)


@pytest.mark.parametrize("method, nth", [("spawn", 1), ("run", 1), ("queue_rules", 1), ("queue_rules", 2),
                                         ("spawn", 3)])
def test_a_failure_while_the_emulator_starts_leaves_nothing(plan, method, nth):
    kernel = FakeKernel(fail=(method, nth))
    with pytest.raises(Injected):
        build.build(plan, backend=kernel)
    assert emulator(kernel) == (None, None)
    assert_nothing_left(None, kernel, "demo")
