"""`http` flows: one curl request from `from` to `to` every interval, each request's time and HTTP code kept.
The server is whatever answers there: usually the `web` service of the node `to` (its port is the default)."""
from __future__ import annotations

import statistics
import threading
from typing import TYPE_CHECKING

from labctl.scenario.context import Context
from labctl.scenario.flows import FLOWS
from labctl.scenario.flows.base import Flow
from labctl.scenario.model import Series
from labctl.scenario.outputs import ms, truncate
from labctl.services.web import WebParams

if TYPE_CHECKING:
    from labctl.scenario.steps.traffic import TrafficStep


@FLOWS.register("http", order=3)
class HttpFlow(Flow):
    CURL = ["curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code} %{time_total}\\n"]

    def start(self, ctx: Context, step: "TrafficStep") -> None:
        self.requests: list[tuple[float, str, float]] = []     # (scenario seconds, HTTP code, seconds taken)
        self.port, self.interval = step.port or self.web_port(ctx), step.interval
        self.started = ctx.now()
        target = ctx.address(self.dst)
        url = f"http://[{target}]:{self.port}/" if ":" in target else f"http://{target}:{self.port}/"
        until = self.started + step.duration if step.duration else None
        self._halt = threading.Event()
        self._loop = threading.Thread(target=self._requests, args=(ctx, url, until), daemon=True,
                                      name=f"http traffic {self.id}")
        self._loop.start()

    def web_port(self, ctx: Context) -> int:
        """The port of the web service on `to`; a node without one is an error (say `port:` for other servers)."""
        if self.dst not in ctx.plan.nodes:
            return WebParams().port
        web = ctx.plan.node(self.dst).service("web")
        if web is None:
            raise RuntimeError(f"traffic '{self.id}': {self.dst} runs no web service; add `services: [web]` to it "
                               "in the topology, or give the `port:` of the server that runs there")
        return web.ports["http"]

    def _requests(self, ctx: Context, url: str, until: float | None) -> None:
        due = ctx.now()
        while not self._halt.is_set() and (until is None or ctx.now() < until):
            at = ctx.now()
            done = ctx.run(self.src, self.CURL + [url], timeout=10)
            code, _, seconds = done.stdout.strip().partition(" ")
            self.requests.append((at, code if code.isdigit() else "000", float(seconds or 0)))
            due = max(due + self.interval, ctx.now())
            self._halt.wait(due - ctx.now())

    def running(self) -> bool:
        return self.record is None and self._loop.is_alive()

    def halt(self) -> None:
        if hasattr(self, "_halt"):
            self._halt.set()
            self._loop.join(15)

    def failed(self) -> list[tuple[float, str, float]]:
        return [r for r in self.requests if not r[1].startswith(("2", "3"))]

    def describe(self) -> str:
        return f"http {self.src} -> {self.dst}:{self.port} every {self.interval:g} s"

    def summary(self) -> str:
        times = [seconds * 1000 for _, code, seconds in self.requests if code.startswith(("2", "3"))]
        median = f", median {ms(statistics.median(times))} ms" if times else ""
        return f"{len(self.requests)} requests, {len(self.failed())} failed{median}"

    def series(self) -> dict[str, Series]:
        return {"http ms": [(t, s * 1000) for t, code, s in self.requests if code.startswith(("2", "3"))],
                "http failed": [(t, 1.0) for t, _, _ in self.failed()]}

    def details(self) -> str:
        lines = "".join(f"{t:.2f} s: {code} {s:.4f}\n" for t, code, s in self.requests)
        return f"curl requests (scenario time: HTTP code, seconds taken):\n{truncate(lines, 2000)}" if lines else ""
