"""Programs running in the background on nodes (traffic flows, a throughput test's server), their output read
line by line while other steps run. Each is stopped exactly, by pid; whatever still runs when Python exits is
stopped then."""
from __future__ import annotations

import atexit
import logging
import subprocess
import threading
from typing import Any, Callable

from labctl.scenario.context import Context

log = logging.getLogger(__name__)
_LIVE: set["Background"] = set()


class Background:
    """A program started on a node with ctx.popen, its output read line by line by a thread. stop() ends
    exactly that process, by pid."""

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
