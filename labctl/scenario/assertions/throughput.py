"""`throughput`: an iperf3 test between two nodes (the server on `to`, only for the test) and bounds on the
rate the receiver saw."""
from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import FromTo, bounds
from labctl.scenario.background import Background
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.outputs import iperf_intervals, iperf_options
from labctl.units import Duration, Rate, format_rate


@ASSERTIONS.register("throughput")
class Throughput(FromTo):
    duration: Duration = Field(3.0, gt=0, le=600)
    protocol: Literal["tcp", "udp"] = "tcp"
    bandwidth: Rate | None = Field(None, description="iperf3 -b (UDP sends 1 Mbit/s without it)")
    min_rate: Rate | None = Field(None, alias="min")
    max_rate: Rate | None = Field(None, alias="max")
    port: int = Field(5201, ge=1, le=65535)
    parallel: int = Field(1, ge=1, le=128, description="iperf3 -P: streams")
    congestion: str | None = Field(None, pattern=r"^[a-z0-9_]+$", description="iperf3 -C: cubic, reno, bbr, ...")

    def limits(self) -> list[str]:
        """['at least 3', 'at most 6'], in Mbit/s."""
        return bounds(*(None if rate is None else rate / 1e6 for rate in (self.min_rate, self.max_rate)))

    def subject(self) -> str:
        limits = self.limits()
        return super().subject() + (f" {self.protocol.upper()}" if self.protocol == "udp" else "") + \
            (f": {' and '.join(limits)} Mbit/s" if limits else "")

    def expected(self, ctx: Context) -> str:
        limits = self.limits()
        return (f"{self.describe(ctx)} {self.protocol.upper()} throughput "
                + (f"{' and '.join(limits)} Mbit/s" if limits else "measured") + f" over {self.duration:g} s")

    def check(self, ctx: Context) -> Observation:
        port = str(self.port)
        server = Background(ctx, ctx.server_node(self.dst, self.assertion),
                            ["iperf3", "-s", "-1", "-p", port, "-i", "0.5", "--forceflush"])
        try:
            if not server.wait_for("Server listening", 5):
                return Observation(False, self.expected(ctx), "the iperf3 server did not start", server.stop())
            argv = ["iperf3", f"-{self.family}", "-c", self.target(ctx), "-p", port, "-J", "-t", f"{self.duration:g}",
                    "-i", "0.5", "--get-server-output"]
            argv += iperf_options(self.protocol, self.bandwidth, self.parallel, self.congestion)
            began = ctx.now()
            done = ctx.run(self.src, argv, timeout=self.duration + 15)
        finally:
            server_output = server.stop()
        return self.judge(ctx, done.stdout + done.stderr, began, f"$ {' '.join(argv)}\n", server_output)

    def judge(self, ctx: Context, output: str, began: float, command: str, server_output: str) -> Observation:
        """Read the client's JSON report: the receiver's rate and, for UDP, the datagrams lost."""
        try:
            report = json.loads(output)
        except json.JSONDecodeError:
            report = {"error": output.strip().splitlines()[-1] if output.strip() else "no output"}
        if "error" in report or not report.get("end"):
            return Observation(False, self.expected(ctx), f"iperf3 failed: {report.get('error', 'no result')}",
                               command + output + server_output)
        end = report["end"]
        received = end.get("sum_received") or end["sum"]
        rate = received["bits_per_second"] / 1e6
        text = report.get("server_output_text", "")
        intervals = [(began + at, mbps) for at, mbps, _ in iperf_intervals(text, self.parallel)] or \
            [(began + i["sum"]["end"], i["sum"]["bits_per_second"] / 1e6) for i in report.get("intervals", [])]
        observed = f"{format_rate(received['bits_per_second'], 3)} received over {received['seconds']:.3g} s"
        if self.protocol == "udp":
            udp = end.get("sum", received)
            observed += (f", {udp.get('lost_packets', 0)}/{udp.get('packets', 0)} datagrams lost "
                         f"({udp.get('lost_percent', 0):.3g}%)")
        low = self.min_rate is not None and rate * 1e6 < self.min_rate
        high = self.max_rate is not None and rate * 1e6 > self.max_rate
        observed += f": below {self.min_rate / 1e6:g} Mbit/s" if low else \
            f": above {self.max_rate / 1e6:g} Mbit/s" if high else ""
        return Observation(not (low or high), self.expected(ctx), observed, command + (text or output),
                           {"throughput Mbit/s": intervals})
