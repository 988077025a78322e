"""What programs print, for the assertions and the traffic flows: ping's and iperf3's output read, ping's epoch
stamps put on the scenario's clock, and numbers and long outputs written the way reports show them."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from labctl.scenario.context import Context

# --- ping ---------------------------------------------------------------------------------------------

PING_REPLY = re.compile(r"^(?:\[(\d+\.\d+)\] )?\d+ bytes from .*icmp_seq=(\d+) .*time=([\d.]+) ms")
PING_SEQ = re.compile(r"icmp_seq=(\d+)")
_PROBLEM = re.compile(r"^(?:\[[\d.]+\] )?From (\S+?):? icmp_seq=\d+ (.+)$")
_ERROR = re.compile(r"^(?:\[[\d.]+\] )?ping: (.+)$")
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


@dataclass
class PingOutput:
    """What ping printed: replies as (epoch stamp or None, icmp_seq, rtt ms), packets sent and received."""

    replies: list[tuple[float | None, int, float]] = field(default_factory=list)
    transmitted: int = 0
    received: int = 0
    problem: str = ""            # the first error: 'Destination Net Unreachable', 'connect: Network is unreachable'
    problem_from: str = ""       # the address that reported it, if one did

    @property
    def loss(self) -> float:
        return 100.0 * (self.transmitted - self.received) / self.transmitted if self.transmitted else 100.0

    def tally(self) -> str:
        return f"{self.received}/{self.transmitted} replies ({self.loss:.3g}% loss)"


def parse_ping(text: str) -> PingOutput:
    out = PingOutput()
    highest_seq, seen = 0, set()
    for line in text.splitlines():
        if reply := PING_REPLY.match(line):
            seq = int(reply.group(2))
            if seq not in seen:           # a (DUP!) reply counts once
                seen.add(seq)
                out.replies.append((float(reply.group(1)) if reply.group(1) else None, seq,
                                    float(reply.group(3))))
        elif summary := _SUMMARY.search(line):
            out.transmitted, out.received = int(summary.group(1)), int(summary.group(2))
        elif not out.problem and (problem := _PROBLEM.match(line)):
            out.problem, out.problem_from = problem.group(2), problem.group(1)
        elif not out.problem and (error := _ERROR.match(line)):
            out.problem = error.group(1)
        if seq_match := PING_SEQ.search(line):
            highest_seq = max(highest_seq, int(seq_match.group(1)))
    if not out.transmitted:              # no summary (killed, or it failed to start)
        out.transmitted, out.received = highest_seq, len(out.replies)
    return out


def ping_problem(ctx: Context, out: PingOutput) -> str:
    """', Destination Net Unreachable from r1 (10.0.0.1)', or nothing if ping reported no error."""
    if not out.problem:
        return ""
    node = ctx.node_of(out.problem_from) if out.problem_from else None
    source = f" from {node} ({out.problem_from})" if node else f" from {out.problem_from}" if out.problem_from else ""
    return f", {out.problem}{source}"


class Clock:
    """Converts epoch stamps (ping -D) to seconds since the scenario started."""

    def __init__(self, ctx: Context):
        self.epoch, self.at = time.time(), ctx.now()

    def __call__(self, stamp: float) -> float:
        return self.at + stamp - self.epoch


def run_ping(ctx: Context, node: str, target: str, count: int, interval: float, family: int = 4,
             wait: float = 1.0) -> tuple[PingOutput, str]:
    """Ping `count` times; returns what it printed, parsed, and the command with its output as evidence. `-U`:
    the round trip as the program sees it, not from the kernel's receive timestamp, which a packet the link
    emulator held after it arrived already carries (see impair.choose)."""
    argv = ["ping", f"-{family}", "-D", "-U", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", f"{wait:g}", target]
    done = ctx.run(node, argv, timeout=count * interval + wait + 10)
    output = done.stdout + done.stderr
    return parse_ping(output), f"$ {' '.join(argv)}\n{output}"


# --- iperf3 text output ------------------------------------------------------------------------------

_INTERVAL = re.compile(r"^\[\s*(?:\d+|SUM)\]\s+([\d.]+)-([\d.]+)\s+sec\s+[\d.]+ \S*Bytes\s+([\d.]+) ([KMG]?)bits/sec"
                       r"(?:.*?(\d+)/(\d+) \()?")
_SCALE = {"": 1e-6, "K": 1e-3, "M": 1.0, "G": 1e3}


def iperf_intervals(text: str, streams: int = 1) -> list[tuple[float, float, float | None]]:
    """Interval lines of iperf3's text output as (end second, Mbit/s, UDP loss percent or None); the closing
    sender/receiver totals are left out, and with several parallel `streams` only their sums are kept."""
    found = []
    for line in text.splitlines():
        match = _INTERVAL.match(line)
        if match and not line.rstrip().endswith(("sender", "receiver")) and (streams == 1 or "[SUM]" in line):
            lost, total = match.group(5), match.group(6)
            loss = 100.0 * int(lost) / int(total) if total and int(total) else None
            found.append((float(match.group(2)), float(match.group(3)) * _SCALE[match.group(4)], loss))
    return found


def iperf_options(protocol: str, bandwidth: int | None, parallel: int, congestion: str | None) -> list[str]:
    """iperf3 client options for these keys of a flow or an assertion."""
    return ((["-u"] if protocol == "udp" else []) + (["-b", str(bandwidth)] if bandwidth else [])
            + (["-P", str(parallel)] if parallel > 1 else []) + (["-C", congestion] if congestion else []))


# --- writing them -------------------------------------------------------------------------------------

def ms(value: float) -> str:
    """A duration in milliseconds with about three significant digits: '0.088', '1.25', '12.5', '125'."""
    return f"{value:.{3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0}f}"


def truncate(text: str, limit: int = 4000) -> str:
    """The head and tail of a long output."""
    if len(text) <= limit:
        return text
    head, tail = text[:limit // 4], text[-(limit * 3 // 4):]
    return f"{head}\n... {len(text) - len(head) - len(tail)} characters left out ...\n{tail}"
