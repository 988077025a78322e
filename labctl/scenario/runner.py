"""Running a scenario: bring its lab up (or use a running one), execute the steps in order, always stop the
traffic and run the teardown, and collect a ScenarioResult. Ctrl-C ends the run with the results so far."""
from __future__ import annotations

import logging
import subprocess
import time
from string import Template
from typing import TYPE_CHECKING, Callable

from labctl.errors import InputError, LabctlError
from labctl.plan import Plan
from labctl.scenario import timing, traffic
from labctl.scenario.context import Context
from labctl.scenario.load import PHASES, LoadedScenario
from labctl.scenario.model import Event, LinkRecord, ScenarioResult, StepResult
from labctl.scenario.steps.base import Step

if TYPE_CHECKING:
    from labctl.runtime.lab import LinkStatus

log = logging.getLogger(__name__)
Listener = Callable[[str, StepResult], None]    # ("start" | "end", result so far)
COULD_NOT_RUN = (LabctlError, RuntimeError, OSError, subprocess.SubprocessError)   # their message says it all
INTERRUPTED = "interrupted by Ctrl-C"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, with the results until then: the interrupted scenario last, with the steps it had done
    and the error INTERRUPTED."""

    def __init__(self, results: list[ScenarioResult]):
        super().__init__(INTERRUPTED)
        self.results = results


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


def execute(ctx: Context, step: Step) -> StepResult:
    """Run one step and say how it went. Problems running it (not failed checks) give status 'error', whatever
    the exception: a step that could not run is recorded, never a traceback. Ctrl-C is no problem of the step's."""
    step = substitute(step, ctx.variables)
    result = StepResult(index=0, phase="steps", kind=step.kind, name=step.title(), status="done",
                        started=ctx.now(), duration=0.0)
    began = timing.clock()
    try:
        step.execute(ctx, result)
    except COULD_NOT_RUN as exc:
        result.status, result.observed = "error", str(exc)
    except Exception as exc:                    # a bug rather than the lab: the step still gets its result
        log.debug("step %r raised", result.name, exc_info=True)
        result.status, result.observed = "error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    result.duration = timing.clock() - began
    return result


def _note_failed_services(ctx: Context, result: ScenarioResult) -> None:
    result.events += [Event(ctx.now(), what, log) for what, log in ctx.failed_services()]


def _shaped_links(at_start: list[LinkStatus], at_end: list[LinkStatus]) -> list[LinkRecord]:
    return [LinkRecord(f"{start.a} - {start.b}", start.shaping, start.shaped_by, end.shaping, end.counters)
            for start, end in zip(at_start, at_end) if start.shaped_by or end.shaped_by]


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
            _note_failed_services(ctx, result)
            if outcome.status == "error" and phase != "teardown":
                result.error = result.error or f"step {index} ({outcome.name}) could not run: {outcome.observed}"
                failed_phase = True
                break


def run_scenario(loaded: LoadedScenario, lab_name: str | None = None, keep: bool = False,
                 listener: Listener = lambda *_: None, name: str | None = None) -> ScenarioResult:
    """Run against the running lab `lab_name`, or bring up the scenario's topology as lab `name` (default: the
    topology's name), down again unless keep. Ctrl-C raises Interrupted, once the traffic is stopped and the
    lab taken down."""
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
        plan = loaded.plan_named(name)
    result = ScenarioResult(scenario.name, loaded.path, plan.name, scenario.description, started_at=time.time())
    try:
        if not lab_name:
            lab.up(plan)
            result.started_at = time.time()         # the run starts once its lab is up
        try:
            result.topology_svg = draw(plan).pipe(format="svg").decode()
            ctx = Context(plan.name, plan)
            at_start = lab.link_status(plan.name)
            try:
                run_steps(ctx, loaded, result, listener)
            finally:
                result.traffic = traffic.stop_all(ctx)
                result.links = _shaped_links(at_start, lab.link_status(plan.name))
        finally:
            if not lab_name and not keep:
                try:
                    lab.down(plan.name)
                except LabctlError as exc:          # the run's results stand; the lab is what is left to mend
                    result.error = result.error or (f"the lab could not be taken down: {exc} (`labctl clean` "
                                                    "tries again)")
            result.duration = time.time() - result.started_at
    except KeyboardInterrupt:
        result.error = INTERRUPTED
        raise Interrupted([result]) from None
    return result
