"""The runner's timing semantics (within, for), step outcomes and variables, on a fake lab and a fake clock."""
from __future__ import annotations

from pathlib import Path

import pytest

from labctl.scenario import runner, timing
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.scenario.model import Observation, ScenarioResult
from labctl.scenario.steps.assert_ import AssertStep
from labctl.topology import compile_plan, load_topology

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@ASSERTIONS.register("fake_timeline")
class FakeTimeline(AssertStep):
    """Holds while the fake clock is inside [true_from, true_until)."""

    true_from: float = 0.0
    true_until: float = 1e9

    def check(self, ctx: Context) -> Observation:
        now = timing.clock()
        timing.sleep(0.1)          # a check takes time, like a ping does
        ok = self.true_from <= now < self.true_until
        return Observation(ok, "true", f"{'true' if ok else 'false'} at {now:.1f}")


@pytest.fixture
def fake(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "clock", clock)
    monkeypatch.setattr(timing, "sleep", clock.sleep)
    topo, source = load_topology(REPO / "topologies" / "demo.yml")
    return clock, Context("demo", compile_plan(topo, source))


def step(**kw) -> FakeTimeline:
    """Durations in seconds, written with their unit as a file would."""
    return FakeTimeline.model_validate({k: f"{v}s" if k in ("within", "for") else v for k, v in kw.items()})


@pytest.mark.parametrize("true_from, within, status", [(0, 0, "passed"), (2.0, 5, "passed"), (6.0, 5, "failed"),
                                                       (0.05, 0, "failed")])
def test_within_waits_for_an_eventually_true_condition(fake, true_from, within, status):
    clock, ctx = fake
    result = runner.execute(ctx, step(true_from=true_from, within=within))
    assert result.status == status
    if status == "passed":
        assert true_from <= clock.t < true_from + 1.0     # stopped checking soon after it became true
    else:
        assert clock.t >= within                          # and kept trying for the whole window


def test_for_must_keep_holding(fake):
    clock, ctx = fake
    held = runner.execute(ctx, step(true_from=1, within=5, **{"for": 3}))
    assert held.status == "passed" and held.expected.endswith("for 3 s")
    assert clock.t >= 4
    clock.t = 0
    broke = runner.execute(ctx, step(true_from=1, true_until=2.5, within=5, **{"for": 3}))
    assert broke.status == "failed"
    assert broke.observed.startswith("stopped holding after 1.")


def test_default_within_is_short_but_not_zero(fake):
    clock, ctx = fake
    assert runner.execute(ctx, step(true_from=3)).status == "passed"
    assert runner.execute(ctx, step(true_from=60)).status == "failed"
    assert clock.t < 20


def test_error_stops_the_steps_but_not_the_teardown(fake, monkeypatch, tmp_path):
    clock, ctx = fake
    from labctl.scenario.load import load_scenario
    calls = []

    def fake_run(node, command, timeout=30):
        calls.append((node, command[-1]))
        import subprocess
        code = 3 if "broken" in command[-1] else 0
        return subprocess.CompletedProcess(command, code, f"out of {command[-1]}\n", "")

    monkeypatch.setattr(ctx, "run", fake_run)
    path = tmp_path / "s.yml"
    path.write_text("""name: s
steps:
  - exec: h1
    cmd: hostname
    capture: who
  - config: r1
    cmd: ["echo ${who}", "broken"]
  - exec: h1
    cmd: never
teardown:
  - exec: h2
    cmd: cleanup
""")
    loaded = load_scenario(path, ctx.plan)
    result = ScenarioResult("s", str(path), "demo")
    runner.run_steps(ctx, loaded, result, lambda *_: None)
    assert [s.status for s in result.steps] == ["done", "error", "done"]
    assert ("r1", "echo out of hostname") in calls and ("h1", "never") not in calls and ("h2", "cleanup") in calls
    assert "`broken` exited 3" in result.error
    assert not result.passed


@ASSERTIONS.register("fake_raising")
class FakeRaising(AssertStep):
    """Raises what `raises` names, as a buggy or interrupted check would."""

    raises: str

    def check(self, ctx: Context) -> Observation:
        raise {"KeyError": KeyError("rtt ms"), "RuntimeError": RuntimeError("no route to the lab"),
               "KeyboardInterrupt": KeyboardInterrupt(), "SystemExit": SystemExit(3)}[self.raises]


@pytest.mark.parametrize("raises, observed", [("KeyError", "KeyError: 'rtt ms'"),
                                              ("RuntimeError", "no route to the lab")])
def test_any_exception_from_a_step_is_an_error_with_its_text(fake, raises, observed):
    clock, ctx = fake
    result = runner.execute(ctx, FakeRaising(raises=raises))
    assert (result.status, result.observed) == ("error", observed)
    assert "Traceback" not in result.observed + result.evidence


@pytest.mark.parametrize("raises", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_and_exit_are_not_step_errors(fake, raises):
    clock, ctx = fake
    with pytest.raises(raises):
        runner.execute(ctx, FakeRaising(raises=raises.__name__))


def test_a_service_that_fails_during_a_run_is_recorded_once(fake, monkeypatch, tmp_path):
    clock, ctx = fake
    from labctl.scenario.load import load_scenario
    failures = iter([[], [("service web on h4 failed (exit 1)", "nginx: [emerg] bind() failed")], [], []])
    monkeypatch.setattr(ctx, "failed_services", lambda: next(failures))
    monkeypatch.setattr(ctx, "run", lambda node, command, timeout=30: __import__("subprocess").CompletedProcess(
        command, 0, "", ""))
    path = tmp_path / "s.yml"
    path.write_text("name: s\nsteps:\n" + "  - exec: h1\n    cmd: hostname\n" * 4)
    result = ScenarioResult("s", str(path), "demo")
    runner.run_steps(ctx, load_scenario(path, ctx.plan), result, lambda *_: None)
    [event] = result.events
    assert event.what == "service web on h4 failed (exit 1)" and "bind() failed" in event.evidence
    assert result.passed                        # recorded, not a failed check


def test_a_lab_that_cannot_be_taken_down_keeps_the_results(monkeypatch, tmp_path):
    from labctl.errors import LabError
    from labctl.scenario.load import load_scenario
    path = tmp_path / "s.yml"
    path.write_text(f"name: s\ntopology: {REPO / 'topologies' / 'demo.yml'}\nsteps:\n  - wait: 0s\n")
    monkeypatch.setattr("labctl.runtime.lab.up", lambda plan, *_: None)
    monkeypatch.setattr("labctl.runtime.lab.link_status", lambda lab: [])
    monkeypatch.setattr("labctl.runtime.lab.down", lambda name: (_ for _ in ()).throw(LabError("cgroup busy")))
    monkeypatch.setattr(Context, "failed_services", lambda self: [])
    result = runner.run_scenario(load_scenario(path))
    assert [s.status for s in result.steps] == ["done"]
    assert result.error.startswith("the lab could not be taken down: cgroup busy") and not result.passed


def test_each_failed_service_is_noticed_once(monkeypatch):
    from labctl.runtime import services
    from labctl.runtime.services import ServiceStatus
    from labctl.runtime.state import LabState
    from labctl.scenario import context
    ctx = Context("demo", compile_plan(*load_topology(REPO / "topologies" / "demo.yml")))
    statuses = [[ServiceStatus("h4", "web", "running", 10, None, 1.0)],
                [ServiceStatus("h4", "web", "failed", None, 137, 1.0)],
                [ServiceStatus("h4", "web", "failed", None, 137, 1.0)],          # still the same failure
                [ServiceStatus("h4", "web", "failed", None, 1, 2.0)]]            # restarted, failed again
    monkeypatch.setattr(context, "load", lambda lab: (LabState(name=lab), ctx.plan))
    monkeypatch.setattr(services, "status", lambda *args: statuses.pop(0))
    monkeypatch.setattr(services, "log_tail", lambda *args: "the log")
    seen = [ctx.failed_services() for _ in range(4)]
    assert seen == [[], [("service web on h4 failed (killed by signal 9)", "the log")], [],
                    [("service web on h4 failed (exit 1)", "the log")]]
