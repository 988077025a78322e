"""`bgp_route` and `bgp_session`: a router's best BGP path to a prefix, and the state of its BGP sessions, read
from FRR's JSON."""
from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from labctl.errors import LabError
from labctl.plan import BgpNeighborPlan, Plan
from labctl.runtime.frr import require_bgp
from labctl.runtime.lookingglass import Rpki, best_path, prefix_command, rpki_text
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import JsonCheck
from labctl.scenario.context import Context
from labctl.scenario.steps.base import is_address
from labctl.topology.routing_schema import AsNumber


class _OnBgpRouter(JsonCheck):
    def argv(self) -> list[str]:
        return ["vtysh", "-c", self.command()]

    def command(self) -> str:
        raise NotImplementedError

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        try:
            require_bgp(plan, self.node)
        except LabError as exc:
            return [(("node",), str(exc))]
        return []


@ASSERTIONS.register("bgp_route")
class BgpRoute(_OnBgpRouter):
    node_fields = ("node", "next_hop")
    prefix: IPv4Network | IPv6Network
    origin: AsNumber | None = Field(None, description="the AS that originates it: the last of the best path, or the "
                                                 "router's own for a route of its AS")
    as_path: list[AsNumber] | None = Field(None, description="the best path's ASes, nearest first")
    next_hop: str | None = Field(None, description="a node or an address")
    rpki: Rpki | None = Field(None, description="the origin validation state of the best path")
    absent: bool = Field(False, description="no route at all")

    @field_validator("as_path", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value       # "65002 65003", as FRR shows it

    @model_validator(mode="after")
    def _consistent(self) -> BgpRoute:
        if self.absent and self.wanted():
            raise ValueError("absent: true means no route, which has no origin, as_path, next_hop or rpki: give "
                             "either absent or those")
        if self.origin and self.as_path and self.as_path[-1] != self.origin:
            raise ValueError(f"origin {self.origin} contradicts as_path, which ends in {self.as_path[-1]}")
        if self.next_hop and is_address(self.next_hop) and ip_address(self.next_hop).version != self.prefix.version:
            raise ValueError(f"next_hop {self.next_hop} is an IPv{ip_address(self.next_hop).version} address and "
                             f"{self.prefix} an IPv{self.prefix.version} prefix")
        return self

    def wanted(self) -> list[str]:
        return ([f"origin AS {self.origin}"] if self.origin else []) + \
            ([f"AS path {' '.join(map(str, self.as_path))}" if self.as_path else "an empty AS path"]
             if self.as_path is not None else []) + \
            ([f"next hop {self.next_hop}"] if self.next_hop else []) + \
            ([f"RPKI {rpki_text(self.rpki)}"] if self.rpki else [])

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        found = super().problems(plan)
        if not found and self.rpki and plan.node(self.node).routing.rpki_cache is None:
            found.append((("rpki",), f"{self.node} validates no origins: the lab has no RPKI (a top-level `rpki:` "
                                     "with a validator and roas)"))
        return found

    def command(self) -> str:
        return prefix_command(self.prefix)

    def expectation(self, plan: Plan | None) -> str:
        """"r5's best path to 10.0.5.0/24 has origin AS 65005", "r5 has no BGP route to 10.0.5.0/24"."""
        if self.absent:
            return f"{self.node} has no BGP route to {self.prefix}"
        wanted = self.wanted()
        return f"{self.node}'s best path to {self.prefix} has {', '.join(wanted)}" if wanted else \
            f"{self.node} has a BGP route to {self.prefix}"

    def judge(self, ctx: Context, answer: Any) -> tuple[bool, str]:
        paths = answer.get("paths", [])
        best = best_path(paths, str(self.prefix), ctx.plan.node(self.node).routing.asn, ctx.node_of)
        if best is None:
            return self.absent, f"no BGP route to {self.prefix}" if not paths else \
                f"no best path: {len(paths)} path{'s' if len(paths) > 1 else ''}, none valid " \
                "(is the next hop reachable?)"
        observed = f"best path: {best.describe(by_address=bool(self.next_hop and is_address(self.next_hop)))}"
        if self.rpki and best.rpki is None:
            observed += ", RPKI not checked (no RPKI cache connected)"
        holds = not self.absent and all(want is None or want == seen for want, seen in (
            (self.origin, best.origin), (self.as_path, best.as_path), (self.rpki, best.rpki))) and \
            self.next_hop in (None, best.next_hop, best.next_hop_node)
        return holds, observed


@ASSERTIONS.register("bgp_session")
class BgpSession(_OnBgpRouter):
    node_fields = ("node", "neighbors")
    neighbors: list[str] = Field([], description="neighbours by node name (default: every one of the router's)")
    state: Literal["established", "down"] = "established"

    def sessions(self, plan: Plan) -> list[BgpNeighborPlan]:
        return [n for n in plan.node(self.node).routing.neighbors if not self.neighbors or n.node in self.neighbors]

    def problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        found = super().problems(plan)
        if found:
            return found
        peers = list(dict.fromkeys(n.node for n in plan.node(self.node).routing.neighbors))
        if not peers:
            return [(("node",), f"{self.node} has no BGP sessions in the topology")]
        return [(("neighbors", k), f"{name} is no BGP neighbour of {self.node}; its neighbours: "
                                   f"{', '.join(peers)}")
                for k, name in enumerate(self.neighbors) if name not in peers]

    def command(self) -> str:
        return "show bgp summary json"

    def expectation(self, plan: Plan | None) -> str:
        """"r3's BGP sessions with r2 are Established"."""
        whom = ", ".join(self.neighbors) if self.neighbors else "all its neighbours" + \
            (f" ({', '.join(dict.fromkeys(n.node for n in self.sessions(plan)))})" if plan else "")
        return f"{self.node}'s BGP sessions with {whom} are {'not ' if self.state == 'down' else ''}Established"

    def judge(self, ctx: Context, answer: Any) -> tuple[bool, str]:
        seen = []
        for session in self.sessions(ctx.plan):
            # peers by address, per address family: {"ipv4Unicast": {"peers": {"10.0.0.1": {"state": ...}}}}
            peer = answer.get(f"{session.family}Unicast", {}).get("peers", {}).get(session.address)
            seen.append((session, peer["state"] if peer else "not configured"))
        up = [state == "Established" for _, state in seen]
        holds = all(up) if self.state == "established" else not any(up)
        return holds, ", ".join(f"{s.node} ({s.address}) {state}" for s, state in seen)
