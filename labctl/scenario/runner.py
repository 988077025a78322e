"""Running a scenario: bring its lab up (or use a running one), execute the steps in order, always stop the
traffic and run the teardown, and collect a ScenarioResult."""
from __future__ import annotations

import logging
import subprocess
import time
from string import Template
from typing import Callable

from labctl.errors import InputError, LabctlError
from labctl.scenario import traffic
from labctl.scenario.context import Context
from labctl.scenario.load import PHASES, LoadedScenario
from labctl.scenario.model import Observation, ScenarioResult, StepResult
from labctl.scenario.steps import AssertStep, ConfigStep, ExecStep, FaultStep, Step, TrafficStep, WaitStep
from labctl.plan import Plan

log = logging.getLogger(__name__)
RETRY_INTERVAL = 0.5            # between checks of an assertion that does not hold yet, or must keep holding
clock, sleep = time.monotonic, time.sleep
Listener = Callable[[str, StepResult], None]    # ("start" | "end", result so far)


def check_until(ctx: Context, step: AssertStep, within: float, hold: float | None) -> tuple[Observation, int]:
    """Check until the assertion holds or `within` runs out; if it held and `hold` is set, keep checking
    for that long and fail at the first check that does not hold. Returns the deciding observation."""
    deadline = clock() + within
    attempts = 0
    while True:
        observation = step.check(ctx)
        attempts += 1
        if observation.ok or clock() >= deadline:
            break
        sleep(min(RETRY_INTERVAL, max(0.0, deadline - clock())))
    if observation.ok and hold:
        held_from, end = clock(), clock() + hold
        while clock() < end:
            sleep(min(RETRY_INTERVAL, max(0.0, end - clock())))
            latest = step.check(ctx)
            attempts += 1
            if not latest.ok:
                latest.observed = f"stopped holding after {clock() - held_from:.1f} s of {hold:g} s: {latest.observed}"
                latest.expected += f", for {hold:g} s"
                return latest, attempts
            observation = latest
        observation.expected += f", for {hold:g} s"
    return observation, attempts


def substitute(step: Step, variables: dict[str, str]) -> Step:
    """Replace ${name} in the step's text fields with variables captured by earlier exec steps."""
    updates = {}
    for name, value in step:
        if isinstance(value, str) and "${" in value:
            updates[name] = Template(value).safe_substitute(variables)
        elif isinstance(value, list) and any(isinstance(v, str) and "${" in v for v in value):
            updates[name] = [Template(v).safe_substitute(variables) if isinstance(v, str) else v for v in value]
        elif isinstance(value, Step):                   # the assertion of `wait: {until: ...}`
            if (inner := substitute(value, variables)) is not value:
                updates[name] = inner
    return step.model_copy(update=updates) if updates else step


def _run_shell(ctx: Context, node: str, command: str, timeout: float) -> subprocess.CompletedProcess:
    return ctx.run(node, ["sh", "-c", command], timeout=timeout)


def execute(ctx: Context, step: Step) -> StepResult:
    """Run one step and say how it went. Problems running it (not failed checks) give status 'error'."""
    step = substitute(step, ctx.variables)
    result = StepResult(index=0, phase="steps", kind=step.kind, name=step.title(), status="done",
                        started=ctx.now(), duration=0.0)
    began = clock()
    try:
        if isinstance(step, AssertStep):
            observation, result.attempts = check_until(ctx, step, step.within, step.hold)
            result.status = "passed" if observation.ok else "failed"
            result.expected, result.observed = observation.expected, observation.observed
            result.evidence, result.series = observation.evidence, observation.series
            result.points, result.hint = step.points, step.hint
        elif isinstance(step, FaultStep):
            result.observed = step.inject(ctx)
        elif isinstance(step, TrafficStep):
            result.observed = traffic.start(ctx, step) if step.action == "start" else traffic.stop(ctx, step)
        elif isinstance(step, WaitStep) and step.until is not None:
            observation, result.attempts = check_until(ctx, step.until, step.timeout, None)
            result.expected = f"{step.until.title()} within {step.timeout:g} s"
            result.observed, result.evidence = observation.observed, observation.evidence
            if not observation.ok:
                result.status = "error"
                result.observed = f"still not true after {step.timeout:g} s: {observation.observed}"
        elif isinstance(step, WaitStep):
            sleep(step.seconds or 0)
            result.observed = f"waited {step.seconds or 0:g} s"
        elif isinstance(step, ExecStep):
            done = _run_shell(ctx, step.node, step.cmd, step.timeout)
            result.observed, result.evidence = f"exit {done.returncode}", done.stdout + done.stderr
            if step.capture:
                ctx.variables[step.capture] = done.stdout.strip()
        elif isinstance(step, ConfigStep):
            for command in [step.cmd] if isinstance(step.cmd, str) else step.cmd:
                done = _run_shell(ctx, step.node, command, step.timeout)
                result.evidence += f"$ {command}\n{done.stdout}{done.stderr}"
                if done.returncode:
                    result.status, result.observed = "error", f"`{command}` exited {done.returncode}"
                    break
            else:
                result.observed = f"{step.node} reconfigured"
    except (LabctlError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        result.status, result.observed = "error", str(exc)
    result.duration = clock() - began
    return result


def run_steps(ctx: Context, loaded: LoadedScenario, result: ScenarioResult, listener: Listener) -> None:
    """Setup and steps stop at the first error; the teardown always runs in full."""
    index = 0
    failed_phase = False
    for phase in PHASES:
        if failed_phase and phase != "teardown":
            continue
        for step in loaded.phases[phase]:
            index += 1
            listener("start", StepResult(index, phase, step.kind, step.title(), "done", ctx.now(), 0.0))
            outcome = execute(ctx, step)
            outcome.index, outcome.phase = index, phase
            result.steps.append(outcome)
            listener("end", outcome)
            if outcome.status == "error" and phase != "teardown":
                result.error = result.error or f"step {index} ({outcome.name}) could not run: {outcome.observed}"
                failed_phase = True
                break


def run_scenario(loaded: LoadedScenario, lab_name: str | None = None, keep: bool = False,
                 listener: Listener = lambda *_: None, name: str | None = None) -> ScenarioResult:
    """Run against the running lab `lab_name`, or bring up the scenario's topology as lab `name` (default: the
    topology's name), down again unless keep."""
    from labctl.graph import draw
    from labctl.runtime import lab
    from labctl.runtime.state import load

    scenario = loaded.scenario
    if lab_name:
        plan: Plan = load(lab_name)[1]
    elif loaded.plan is None:
        raise InputError([loaded.source.error((), "the scenario names no topology: add `topology:` or run it "
                                                  "against a running lab with --lab")])
    else:
        plan = loaded.plan.model_copy(update={"name": name}) if name else loaded.plan
        lab.up(plan)
    result = ScenarioResult(scenario.name, loaded.path, plan.name, scenario.description, started_at=time.time())
    try:
        result.topology_svg = draw(plan).pipe(format="svg").decode()
        ctx = Context(plan.name, plan)
        try:
            run_steps(ctx, loaded, result, listener)
        finally:
            result.traffic = traffic.stop_all(ctx)
    finally:
        if not lab_name and not keep:
            lab.down(plan.name)
        result.duration = time.time() - result.started_at
    return result
