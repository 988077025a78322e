"""Time as steps see it: the clock and sleep they use (tests replace both), and checking an assertion until it
holds (`within`) and then while it must keep holding (`for`)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from labctl.scenario.model import Observation

if TYPE_CHECKING:
    from labctl.scenario.context import Context
    from labctl.scenario.steps.assert_ import AssertStep

RETRY_INTERVAL = 0.5            # between checks of an assertion that does not hold yet, or must keep holding
clock, sleep = time.monotonic, time.sleep


def check_until(ctx: "Context", step: "AssertStep", within: float, hold: float | None) -> tuple[Observation, int]:
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
