"""`bgp_origins`: who follows whom. For a prefix, the origin AS each BGP router's best path leads to, checked
against the routers expected to follow each origin (after a hijack: which ASes follow the attacker), with the
AS-level graph coloured by the origin each AS follows as the step's picture in the report."""
from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import Field

from labctl.graph import draw_ases
from labctl.plan import Plan
from labctl.runtime.lookingglass import bgp_routers, look
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.scenario.model import Observation
from labctl.scenario.steps.assert_ import AssertStep
from labctl.topology.routing_schema import AsNumber


def _grouped(followed: dict[str, int | None]) -> str:
    """'AS65010: r1, r3; AS65009: r2; no route: r8'"""
    groups: dict[int | None, list[str]] = {}
    for router, origin in followed.items():
        groups.setdefault(origin, []).append(router)
    return "; ".join(f"{'no route' if origin is None else f'AS{origin}'}: {', '.join(routers)}"
                     for origin, routers in groups.items())


@ASSERTIONS.register("bgp_origins")
class BgpOrigins(AssertStep):
    prefix: IPv4Network | IPv6Network
    origin: AsNumber | None = Field(None, description="the prefix's rightful origin, drawn first (green)")
    expect: dict[AsNumber, list[str]] = Field(
        default_factory=dict, description="origin AS: the routers whose best path must lead to it")
    none: list[str] = Field([], description="routers that must have no route to the prefix")

    def subject(self) -> str:
        return f"for {self.prefix}: {_grouped(self.expected_of())}"

    def expected_of(self) -> dict[str, int | None]:
        return {r: origin for origin, routers in self.expect.items() for r in routers} | dict.fromkeys(self.none)

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        routers = {n.name for n in bgp_routers(plan)}
        found = [(("expect", origin, k), f"'{r}' is not a BGP router of the lab; they are: {', '.join(sorted(routers))}")
                 for origin, listed in self.expect.items() for k, r in enumerate(listed) if r not in routers]
        found += [(("none", k), f"'{r}' is not a BGP router of the lab") for k, r in enumerate(self.none)
                  if r not in routers]
        named = [r for listed in self.expect.values() for r in listed] + self.none
        found += [((), f"{r} is named twice: a router follows one origin") for r in sorted(set(named))
                  if named.count(r) > 1]
        if not named:
            found.append((("expect",), "name the routers expected to follow each origin, e.g. {65009: [r1, r2]}"))
        return found

    def check(self, ctx: Context) -> Observation:
        views = look(ctx.lab, ctx.plan, self.prefix)
        followed = {v.node: v.paths[0].origin if v.paths else None for v in views if v.error is None}
        problems = [f"{v.node}: {v.error}" for v in views if v.error]
        wrong = {r: followed.get(r) for r, origin in self.expected_of().items()
                 if r not in followed or followed[r] != origin}
        expected = f"best paths to {self.prefix} lead to {_grouped(self.expected_of())}"
        observed = _grouped(followed) + (f"; not as expected: {', '.join(sorted(wrong))}" if wrong else "")
        picture = draw_ases(ctx.plan, followed, str(self.prefix), self.origin).pipe(format="svg").decode()
        evidence = "\n".join(f"{v.node} (AS{v.asn}): {v.paths[0].describe() if v.paths else v.error or 'no route'}"
                             for v in views)
        return Observation(not wrong and not problems, expected, observed + "".join(f"; {p}" for p in problems),
                           evidence, figure=picture)
