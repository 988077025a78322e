"""Background traffic: ping, iperf3 and HTTP flows that traffic steps start and stop while other steps run.
Their samples feed the outage assertion and the reports' plots. A flow stops exactly the processes it started,
by pid, and the runner's stop_all ends every flow still running when the scenario ends."""
from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Callable, ClassVar

from labctl.scenario.assertions.base import Background, Clock, ms, truncate
from labctl.scenario.assertions.outputs import PING_REPLY, PING_SEQ, iperf_intervals
from labctl.scenario.context import Context
from labctl.scenario.model import Series, TrafficRecord
from labctl.scenario.steps import TrafficStep

log = logging.getLogger(__name__)
IPERF3_PORT = 5202          # first port of background iperf3 servers (the throughput assertion uses 5201)
CONNECT_WAIT = 3.0          # seconds a flow's client may take to connect before start() returns anyway


class Flow:
    """One background flow. start() starts its processes (and stops them again if it fails); stop() stops them
    and returns the record of what was measured. Stopping twice returns the same record."""

    kind: ClassVar[str]

    def __init__(self, step: TrafficStep):
        self.id, self.src, self.dst = step.id, step.src or "", step.dst or ""
        self.started = 0.0
        self.stopped: float | None = None
        self.record: TrafficRecord | None = None
        self.processes: list[Background] = []

    def start(self, ctx: Context, step: TrafficStep) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """'ping h1 -> h4 every 0.1 s'"""
        raise NotImplementedError

    def summary(self) -> str:
        """What was measured, in a few words."""
        raise NotImplementedError

    def series(self) -> dict[str, Series]:
        raise NotImplementedError

    def details(self) -> str:
        """Text for the record besides the processes' output."""
        return ""

    def spawn(self, ctx: Context, node: str, argv: list[str], on_line: Callable[[str], object] | None = None,
              ) -> Background:
        process = Background(ctx, node, argv, on_line)
        self.processes.append(process)
        return process

    def halt(self) -> None:
        """Stop what the flow runs besides its processes (threads)."""

    def stop(self, ctx: Context) -> TrafficRecord:
        if self.record is None:
            self.halt()
            outputs = [f"$ {' '.join(p.argv)}  (on {p.node})\n{truncate(p.stop(), 3000)}"
                       for p in reversed(self.processes)]
            ended = [p.ended for p in self.processes if p.ended is not None]
            self.stopped = max(ended) if ended and len(ended) == len(self.processes) else ctx.now()
            self.record = TrafficRecord(self.id, self.kind, self.src, self.dst, self.started, self.stopped,
                                        self.series(), "\n".join([self.details()] + outputs).lstrip())
        return self.record


class PingFlow(Flow):
    """`ping -D -O` at a steady interval; replies are kept with their times for the outage assertion."""

    kind = "ping"

    def start(self, ctx: Context, step: TrafficStep) -> None:
        self.interval, self.target = step.interval, ctx.address(self.dst)
        self.replies: list[tuple[float, int, float]] = []      # (scenario seconds, icmp_seq, rtt ms)
        self.sent = 0                                           # the highest icmp_seq seen
        self.clock = Clock(ctx)
        self.ctx = ctx
        argv = ["ping", "-D", "-n", "-O", "-i", f"{step.interval:g}", self.target]
        self.started = ctx.now()
        self.process = self.spawn(ctx, self.src, argv + (["-w", f"{step.duration:g}"] if step.duration else []),
                                  self._line)

    def _line(self, line: str) -> None:
        if seq := PING_SEQ.search(line):
            self.sent = max(self.sent, int(seq.group(1)))
        if reply := PING_REPLY.match(line):
            stamp = self.clock(float(reply.group(1))) if reply.group(1) else self.ctx.now()
            self.replies.append((stamp, int(reply.group(2)), float(reply.group(3))))

    def end(self, now: float) -> float:
        """When ping ended (by itself or stopped), else now."""
        return self.process.ended if self.process.ended is not None else now

    def gaps(self, now: float) -> list[tuple[float, float]]:
        """The stretches without a reply: from the start to the first reply, between replies, and from the last
        reply to the end of the flow (or now, while it runs)."""
        times = [self.started] + sorted(t for t, _, _ in self.replies) + [self.end(now)]
        return list(zip(times, times[1:]))

    def describe(self) -> str:
        return f"ping {self.src} -> {self.dst} ({self.target}) every {self.interval:g} s"

    def summary(self) -> str:
        replies = len(self.replies)
        longest = max(b - a for a, b in self.gaps(self.ctx.now()))
        return f"{replies} replies, {max(0, self.sent - replies)} lost, longest gap {longest:.2f} s"

    def series(self) -> dict[str, Series]:
        return {"rtt ms": [(t, rtt) for t, _, rtt in self.replies]}


class IperfFlow(Flow):
    """An iperf3 server on `to` and a client on `from`, for `duration` or until stopped; the series is the rate
    the server received each half second."""

    kind = "iperf3"

    def start(self, ctx: Context, step: TrafficStep) -> None:
        taken = sum(isinstance(flow, IperfFlow) for flow in ctx.flows.values())
        self.port = step.port if "port" in step.model_fields_set else IPERF3_PORT + taken
        self.protocol, self.ctx = step.protocol, ctx
        self.base: float | None = None               # scenario time of the server's interval 0
        self.intervals: list[tuple[float, float, float | None]] = []      # (end, Mbit/s, UDP loss %)
        self.started = ctx.now()
        server = self.spawn(ctx, ctx.server_node(self.dst, f"traffic '{self.id}'"),
                            ["iperf3", "-s", "-p", str(self.port), "-i", "0.5", "--forceflush"], self._server_line)
        if not server.wait_for("Server listening", 5):
            raise RuntimeError(f"the iperf3 server of traffic '{self.id}' did not start: {server.output.strip()}")
        argv = ["iperf3", "-c", ctx.address(self.dst), "-p", str(self.port), "-i", "0.5", "--forceflush",
                "-t", f"{step.duration:g}" if step.duration else "0"]
        argv += (["-u"] if step.protocol == "udp" else []) + (["-b", str(step.bandwidth)] if step.bandwidth else [])
        client = self.spawn(ctx, self.src, argv)
        if not client.wait_for("connected to", CONNECT_WAIT) and client.ended is not None:
            raise RuntimeError(f"the iperf3 client of traffic '{self.id}' failed: {client.output.strip()}")

    def _server_line(self, line: str) -> None:
        if self.base is None and "connected to" in line:
            self.base = self.ctx.now()
        for end, mbps, loss in iperf_intervals(line):
            self.intervals.append(((self.base or self.ctx.now()) + end, mbps, loss))

    def describe(self) -> str:
        return f"iperf3 {self.protocol.upper()} {self.src} -> {self.dst} port {self.port}"

    def summary(self) -> str:
        if not self.intervals:
            return "no data received"
        rates = [mbps for _, mbps, _ in self.intervals]
        return f"{statistics.mean(rates):.3g} Mbit/s on average over {len(rates)} intervals"

    def series(self) -> dict[str, Series]:
        found = {"throughput Mbit/s": [(t, mbps) for t, mbps, _ in self.intervals]}
        if self.protocol == "udp":
            found["loss %"] = [(t, loss) for t, _, loss in self.intervals if loss is not None]
        return found


class HttpFlow(Flow):
    """`python3 -m http.server` on `to` and one curl request from `from` every interval."""

    kind = "http"
    CURL = ["curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code} %{time_total}\\n"]

    def start(self, ctx: Context, step: TrafficStep) -> None:
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


FLOWS: dict[str, type[Flow]] = {"ping": PingFlow, "iperf3": IperfFlow, "http": HttpFlow}


def start(ctx: Context, step: TrafficStep) -> str:
    """Start the flow a `traffic: start` step describes; returns a line saying what runs."""
    if step.id in ctx.flows:
        raise RuntimeError(f"traffic '{step.id}' was already started: each flow needs its own id")
    flow = FLOWS[step.type](step)
    try:
        flow.start(ctx, step)
    except BaseException:
        flow.stop(ctx)
        raise
    ctx.flows[step.id] = flow
    return f"started {flow.describe()} (traffic '{step.id}')"


def stop(ctx: Context, step: TrafficStep) -> str:
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
