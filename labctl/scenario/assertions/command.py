"""`command`: run a command on a node and check its exit code and output."""
from __future__ import annotations

import re

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.steps.assert_ import AssertStep


@ASSERTIONS.register("command")
class Command(AssertStep):
    node_fields = ("node",)
    node: str
    cmd: str
    exit: int = Field(0, description="expected exit code")
    contains: str | None = None
    not_contains: str | None = None
    matches: str | None = Field(None, description="a regular expression searched in the output")

    def subject(self) -> str:
        return f"on {self.node}: {self.cmd}"

    def check(self, ctx: Context) -> Observation:
        done = ctx.run(self.node, ["sh", "-c", self.cmd])
        output = done.stdout + done.stderr
        wanted = [f"exit {self.exit}"]
        problems = [] if done.returncode == self.exit else [f"exit {done.returncode}"]
        if self.contains is not None:
            wanted.append(f"output contains {self.contains!r}")
            if self.contains not in output:
                problems.append(f"output lacks {self.contains!r}")
        if self.not_contains is not None:
            wanted.append(f"output without {self.not_contains!r}")
            if self.not_contains in output:
                problems.append(f"output contains {self.not_contains!r}")
        if self.matches is not None:
            wanted.append(f"output matches /{self.matches}/")
            if not re.search(self.matches, output, re.M):
                problems.append(f"output does not match /{self.matches}/")
        observed = "; ".join(problems) if problems else f"exit {done.returncode}, output as expected"
        return Observation(not problems, ", ".join(wanted), observed, evidence=f"$ {self.cmd}\n{output}")
