"""`http` flows: `python3 -m http.server` on `to` and one curl request from `from` every interval, each request's
time and HTTP code kept."""
from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.scenario.context import Context
from labctl.scenario.flows import FLOWS
from labctl.scenario.flows.base import Flow
from labctl.scenario.model import Series
from labctl.scenario.outputs import ms, truncate

if TYPE_CHECKING:
    from labctl.scenario.steps.traffic import TrafficStep


@FLOWS.register("http", order=3)
class HttpFlow(Flow):
    CURL = ["curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code} %{time_total}\\n"]

    def start(self, ctx: Context, step: "TrafficStep") -> None:
        self.port, self.interval = step.port, step.interval
        self.requests: list[tuple[float, str, float]] = []     # (scenario seconds, HTTP code, seconds taken)
        self.root = tempfile.mkdtemp(prefix="labctl-http-")
        Path(self.root, "index.html").write_text(f"labctl traffic {self.id}\n")
        self.started = ctx.now()
        target = ctx.address(self.dst)
        # bound to the address the client uses: http.server looks the bound address up, and 0.0.0.0 would wait
        # for a DNS server the lab cannot reach, while the node's own address is in its hosts file
        server = self.spawn(ctx, ctx.server_node(self.dst, f"traffic '{self.id}'"),
                            ["python3", "-u", "-m", "http.server", str(step.port), "--bind", target,
                             "--directory", self.root])
        if not server.wait_for("Serving HTTP", 5):
            raise RuntimeError(f"the HTTP server of traffic '{self.id}' did not start: {server.output.strip()}")
        url = f"http://[{target}]:{step.port}/" if ":" in target else f"http://{target}:{step.port}/"
        until = self.started + step.duration if step.duration else None
        self._halt = threading.Event()
        self._loop = threading.Thread(target=self._requests, args=(ctx, url, until), daemon=True,
                                      name=f"http traffic {self.id}")
        self._loop.start()

    def _requests(self, ctx: Context, url: str, until: float | None) -> None:
        due = ctx.now()
        while not self._halt.is_set() and (until is None or ctx.now() < until):
            at = ctx.now()
            done = ctx.run(self.src, self.CURL + [url], timeout=10)
            code, _, seconds = done.stdout.strip().partition(" ")
            self.requests.append((at, code if code.isdigit() else "000", float(seconds or 0)))
            due = max(due + self.interval, ctx.now())
            self._halt.wait(due - ctx.now())

    def halt(self) -> None:
        if hasattr(self, "_halt"):
            self._halt.set()
            self._loop.join(15)
        shutil.rmtree(getattr(self, "root", ""), ignore_errors=True)

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
