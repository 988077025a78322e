"""What the assertion families and the traffic flows share: the from/to keys, units, numbers written the way
reports show them, and programs running in the background on nodes."""
from __future__ import annotations

import atexit
import logging
import math
import subprocess
import threading
import time
from typing import Any, Callable, Literal

from pydantic import Field

from labctl.scenario.context import Context
from labctl.scenario.steps import AssertStep

log = logging.getLogger(__name__)


class FromTo(AssertStep):
    """An assertion from a node to a node or an address."""

    node_fields = ("src", "dst")
    src: str = Field(alias="from")
    dst: str = Field(alias="to", description="a node (its primary address is used) or an address")
    family: Literal[4, 6] = 4

    def subject(self) -> str:
        """'h1 -> h4', 'h1 -> h4 (IPv6)'"""
        return f"{self.src} -> {self.dst}" + (" (IPv6)" if self.family == 6 else "")

    def target(self, ctx: Context) -> str:
        return ctx.address(self.dst, self.family)

    def describe(self, ctx: Context) -> str:
        """'h1 -> h4 (10.0.1.3)' or, for an address, 'h1 -> 10.0.1.3 (h4)'."""
        target = self.target(ctx)
        other = ctx.node_of(target) if target == self.dst else target
        return f"{self.src} -> {self.dst}" + (f" ({other})" if other and other != self.dst else "")


# --- numbers -------------------------------------------------------------------------------------------

def ms(value: float) -> str:
    """A duration in milliseconds with about three significant digits: '0.088', '1.25', '12.5', '125'."""
    return f"{value:.{3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0}f}"


def bounds(low: float | None, high: float | None, unit: str = "") -> list[str]:
    """['at least 3', 'at most 6'] for the bounds given, each followed by `unit`."""
    return ([f"at least {low:g}{unit}"] if low is not None else []) + \
        ([f"at most {high:g}{unit}"] if high is not None else [])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * pct / 100)) - 1]


def truncate(text: str, limit: int = 4000) -> str:
    """The head and tail of a long output."""
    if len(text) <= limit:
        return text
    head, tail = text[:limit // 4], text[-(limit * 3 // 4):]
    return f"{head}\n... {len(text) - len(head) - len(tail)} characters left out ...\n{tail}"


class Clock:
    """Converts epoch stamps (ping -D) to seconds since the scenario started."""

    def __init__(self, ctx: Context):
        self.epoch, self.at = time.time(), ctx.now()

    def __call__(self, stamp: float) -> float:
        return self.at + stamp - self.epoch


# --- processes in the background ----------------------------------------------------------------------

_LIVE: set["Background"] = set()


class Background:
    """A program started on a node with ctx.popen, its output read line by line by a thread. stop() ends
    exactly that process, by pid; whatever is still running when Python exits is stopped too."""

    def __init__(self, ctx: Context, node: str, argv: list[str], on_line: Callable[[str], Any] | None = None):
        self.ctx, self.node, self.argv, self.on_line = ctx, node, argv, on_line
        self.lines: list[str] = []
        self.ended: float | None = None             # when its output ended (it exited), in scenario seconds
        self._changed = threading.Condition()
        self.process = ctx.popen(node, argv)
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._read, name=f"read {argv[0]} on {node}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
            if self.on_line:
                try:
                    self.on_line(line)
                except Exception:           # a line we cannot read must not stop the reading
                    log.exception("reading %r from %s", line, self.argv[0])
        with self._changed:
            self.ended = self.ctx.now()
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> bool:
        """Wait until a line contains `text`; False if the process ended or the time ran out first."""
        def seen() -> bool:
            return any(text in line for line in self.lines)
        with self._changed:
            self._changed.wait_for(lambda: seen() or self.ended is not None, timeout)
            return seen()

    def stop(self, grace: float = 2.0) -> str:
        """Terminate (then kill) the process if it still runs, reap it, and return all it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(grace)
        _LIVE.discard(self)
        return self.output


@atexit.register
def _stop_leftovers() -> None:
    for background in list(_LIVE):
        background.stop(grace=0.5)
