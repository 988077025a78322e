"""`path`: traceroute from a node and check which nodes the packets pass (`via`) and which they must not
(`avoid`)."""
from __future__ import annotations

import re

from pydantic import Field

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import FromTo
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.steps.base import is_address

_HOP = re.compile(r"^\s*(\d+)\s+(.*)$")


def parse_hops(text: str) -> list[str]:
    """The address that answered at each hop of `traceroute -n -q 1` output, '*' where none did."""
    hops = []
    for line in text.splitlines():
        if match := _HOP.match(line):
            found = [token for token in match.group(2).split() if is_address(token)]
            hops.append(found[0] if found else "*")
    return hops


@ASSERTIONS.register("path")
class Path(FromTo):
    node_fields = ("src", "dst", "via", "avoid")
    via: list[str] = Field([], description="nodes the path must pass, in any order")
    avoid: list[str] = Field([], description="nodes the path must not pass")
    max_hops: int = Field(16, ge=1, le=64)

    def subject(self) -> str:
        return (super().subject() + (f" via {', '.join(self.via)}" if self.via else "")
                + (f" avoiding {', '.join(self.avoid)}" if self.avoid else ""))

    def check(self, ctx: Context) -> Observation:
        target = self.target(ctx)
        argv = ["traceroute", f"-{self.family}", "-n", "-N", "1", "-q", "1", "-w", "1", "-m", str(self.max_hops),
                target]
        done = ctx.run(self.src, argv, timeout=self.max_hops + 10)
        addresses = parse_hops(done.stdout)
        names = [ctx.node_of(a) or a for a in addresses]
        passed = set(names) | set(addresses)
        last = addresses[-1] if addresses else "*"
        reached = last == target or ctx.node_of(last) is not None and ctx.node_of(last) == ctx.node_of(target)
        problems = [] if reached else [f"{self.dst} not reached"]
        problems += [f"{node} missing" for node in self.via if node not in passed]
        problems += [f"passes {node}" for node in self.avoid if node in passed]
        wanted = [f"passes {', '.join(self.via)}"] if self.via else []
        wanted += [f"avoids {', '.join(self.avoid)}"] if self.avoid else []
        expected = f"{self.describe(ctx)} {' and '.join(wanted) or 'is reached'}"
        observed = f"hops: {', '.join(names) or 'none'}" + (f"; {'; '.join(problems)}" if problems else "")
        if done.returncode and not addresses:
            observed = f"traceroute failed (exit {done.returncode}): {done.stderr.strip()}"
        return Observation(not problems, expected, observed, f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
