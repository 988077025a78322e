"""`iperf3` flows: an iperf3 server on `to` and a client on `from`, for `duration` or until stopped; the series is
the rate the server received each half second."""
from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from labctl.scenario.context import Context
from labctl.scenario.flows import FLOWS
from labctl.scenario.flows.base import Flow
from labctl.scenario.model import Series
from labctl.scenario.outputs import iperf_intervals, iperf_options
from labctl.units import format_rate

if TYPE_CHECKING:
    from labctl.scenario.steps.traffic import TrafficStep

IPERF3_PORT = 5202          # first port of background iperf3 servers (the throughput assertion uses 5201)
CONNECT_WAIT = 3.0          # seconds the client may take to connect before start() returns anyway


@FLOWS.register("iperf3", order=2)
class IperfFlow(Flow):
    def start(self, ctx: Context, step: "TrafficStep") -> None:
        taken = sum(isinstance(flow, IperfFlow) for flow in ctx.flows.values())
        self.port = step.port or IPERF3_PORT + taken
        self.protocol, self.ctx, self.streams = step.protocol, ctx, step.parallel
        self.base: float | None = None               # scenario time of the server's interval 0
        self.intervals: list[tuple[float, float, float | None]] = []      # (end, Mbit/s, UDP loss %)
        self.started = ctx.now()
        server = self.spawn(ctx, ctx.server_node(self.dst, f"traffic '{self.id}'"),
                            ["iperf3", "-s", "-p", str(self.port), "-i", "0.5", "--forceflush"], self._server_line)
        if not server.wait_for("Server listening", 5):
            raise RuntimeError(f"the iperf3 server of traffic '{self.id}' did not start: {server.output.strip()}")
        argv = ["iperf3", "-c", ctx.address(self.dst), "-p", str(self.port), "-i", "0.5", "--forceflush",
                "-t", f"{step.duration:g}" if step.duration else "0"]
        argv += iperf_options(step.protocol, step.bandwidth, step.parallel, step.congestion)
        client = self.spawn(ctx, self.src, argv)
        if not client.wait_for("connected to", CONNECT_WAIT) and client.ended is not None:
            raise RuntimeError(f"the iperf3 client of traffic '{self.id}' failed: {client.output.strip()}")

    def _server_line(self, line: str) -> None:
        if self.base is None and "connected to" in line:
            self.base = self.ctx.now()
        for end, mbps, loss in iperf_intervals(line, self.streams):
            self.intervals.append(((self.base or self.ctx.now()) + end, mbps, loss))

    def describe(self) -> str:
        return f"iperf3 {self.protocol.upper()} {self.src} -> {self.dst} port {self.port}"

    def summary(self) -> str:
        if not self.intervals:
            return "no data received"
        rates = [mbps for _, mbps, _ in self.intervals]
        return f"{format_rate(statistics.mean(rates) * 1e6, 3)} on average over {len(rates)} intervals"

    def series(self) -> dict[str, Series]:
        found = {"throughput Mbit/s": [(t, mbps) for t, mbps, _ in self.intervals]}
        if self.protocol == "udp":
            found["loss %"] = [(t, loss) for t, _, loss in self.intervals if loss is not None]
        return found
