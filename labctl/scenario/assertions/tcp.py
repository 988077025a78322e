"""`tcp`: a TCP connect from inside a node, which finds the port open, refused or blocked (no answer, or an
ICMP error such as 'No route to host')."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import FromTo
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.units import Duration

# Run by the node's python3: prints the outcome, then a detail.
CONNECT = """
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    socket.create_connection((host, port), timeout=timeout).close()
    print("open connected")
except ConnectionRefusedError:
    print("refused reset by the host")
except (TimeoutError, socket.timeout):
    print(f"blocked no answer in {timeout:g} s")
except OSError as exc:
    print("blocked", exc.strerror or exc)
"""


@ASSERTIONS.register("tcp")
class Tcp(FromTo):
    port: int = Field(ge=1, le=65535)
    expect: Literal["open", "refused", "blocked"] = "open"
    timeout: Duration = Field(2.0, gt=0, description="how long a connect may take before the port counts as blocked")

    def subject(self) -> str:
        return f"{super().subject()} port {self.port} {self.expect}"

    def check(self, ctx: Context) -> Observation:
        argv = ["python3", "-c", CONNECT, self.target(ctx), str(self.port), f"{self.timeout:g}"]
        done = ctx.run(self.src, argv, timeout=self.timeout + 10)
        outcome, _, detail = done.stdout.strip().partition(" ")
        expected = f"{self.describe(ctx)} port {self.port} is {self.expect}"
        if outcome not in ("open", "refused", "blocked"):
            observed = f"the connect test failed (exit {done.returncode}): {done.stderr.strip()[-200:]}"
        else:
            observed = f"{outcome} ({detail})"
        command = f"$ python3 -c <connect {self.target(ctx)} {self.port}, timeout {self.timeout:g} s>\n"
        return Observation(outcome == self.expect, expected, observed, command + done.stdout + done.stderr)
