"""The background traffic of a scenario: flows started and stopped by id (they live in ctx.flows while other
steps run), and every flow still running stopped when the scenario ends. The flow types: flows/."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from labctl.scenario.context import Context
from labctl.scenario.flows import FLOWS
from labctl.scenario.model import TrafficRecord

if TYPE_CHECKING:
    from labctl.scenario.steps.traffic import TrafficStep

log = logging.getLogger(__name__)


def start(ctx: Context, step: "TrafficStep") -> str:
    """Start the flow a `traffic: start` step describes; returns a line saying what runs."""
    if step.id in ctx.flows:
        raise RuntimeError(f"traffic '{step.id}' was already started: each flow needs its own id")
    flow = FLOWS.lookup(step.type)(step)
    try:
        flow.start(ctx, step)
    except BaseException:
        flow.stop(ctx)
        raise
    ctx.flows[step.id] = flow
    return f"started {flow.describe()} (traffic '{step.id}')"


def stop(ctx: Context, step: "TrafficStep") -> str:
    """Stop the flow a `traffic: stop` step names; returns a line with what it measured."""
    flow = ctx.flows.get(step.id)
    if flow is None:
        raise RuntimeError(f"no traffic '{step.id}' was started; started: {', '.join(ctx.flows) or 'none'}")
    record = flow.stop(ctx)
    return f"stopped {flow.describe()} after {record.stopped - record.started:.1f} s: {flow.summary()}"


def stop_all(ctx: Context) -> list[TrafficRecord]:
    """Stop every flow still running; the records of all flows of the scenario, in the order they started."""
    records = []
    for flow in ctx.flows.values():
        try:
            records.append(flow.stop(ctx))
        except Exception:                       # one flow's trouble must not leave the others running
            log.exception("stopping traffic '%s'", flow.id)
    return records
