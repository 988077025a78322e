"""`bgp_origins` against faked looking-glass answers on the mini-Internet's plan: who follows which origin, the
routers that do not, and the AS graph it draws."""
from __future__ import annotations

import pytest

from labctl.runtime.lookingglass import BestPath, RouterView
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.context import Context
from labctl.topology import compile_plan, load_topology

HIJACKED = {"r1": 65010, "r3": 65010, "r5": 65010, "r6": 65010, "r10": 65010,
            "r2": 65009, "r4": 65009, "r7": 65009, "r8": None, "r9": 65009}


@pytest.fixture(scope="module")
def plan():
    return compile_plan(*load_topology("topologies/mini-internet.yaml"))


def faked(monkeypatch, origins: dict[str, int | None]) -> None:
    def look(lab, plan, prefix):
        return [RouterView(node=r, asn=plan.node(r).routing.asn, paths=[] if origin is None else [
            BestPath(prefix=str(prefix), as_path=[origin], origin=origin, next_hop="10.255.0.1", next_hop_node="r3",
                     rpki=None)]) for r, origin in origins.items()]
    monkeypatch.setattr("labctl.scenario.assertions.origins.look", look)


def check(plan, **keys):
    return ASSERTIONS["bgp_origins"].model_validate({"prefix": "10.9.0.0/24", "origin": 65009, **keys}) \
        .check(Context("mi", plan))


def test_the_followers_of_each_origin_are_named_and_drawn(monkeypatch, plan):
    faked(monkeypatch, HIJACKED)
    seen = check(plan, expect={65010: ["r1", "r3", "r5", "r6", "r10"], 65009: ["r2", "r4", "r7", "r9"]},
                 none=["r8"])
    assert seen.ok
    assert seen.observed == "AS65010: r1, r3, r5, r6, r10; AS65009: r2, r4, r7, r9; no route: r8"
    assert seen.expected.startswith("best paths to 10.9.0.0/24 lead to AS65010: r1, r3, r5, r6, r10; AS65009")
    assert "<svg" in seen.figure and "AS65010" in seen.figure and 'fill="#dddddd"' in seen.figure  # r8: grey


def test_a_router_that_follows_another_origin_fails_the_check(monkeypatch, plan):
    faked(monkeypatch, HIJACKED)
    seen = check(plan, expect={65009: ["r1", "r2"]})
    assert not seen.ok
    assert seen.observed.endswith("; not as expected: r1")


def test_names_are_checked_against_the_lab_before_it_runs(plan):
    step = ASSERTIONS["bgp_origins"].model_validate({"prefix": "10.9.0.0/24", "expect": {65009: ["r1", "h5"]},
                                                     "none": ["r1"]})
    problems = step.problems(plan)
    assert (("expect", 65009, 1), "'h5' is not a BGP router of the lab; they are: r1, r10, r2, r3, r4, r5, r6, "
                                  "r7, r8, r9") in problems
    assert ((), "r1 is named twice: a router follows one origin") in problems
