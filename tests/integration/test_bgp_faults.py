"""The BGP faults on one real lab (topologies/bgp-line.yml: AS65001 - AS65002 - AS65003, RPKI saying AS65003
originates 10.0.3.0/24): a hijack in the BGP tables and in the data plane, its withdrawal, and RPKI origin
validation turned on and off while the lab runs."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from labctl.runtime.frr import vtysh_json
from labctl.runtime.state import load
from labctl.scenario.context import Context
from labctl.scenario.faults import FAULTS
from tests.integration.conftest import labctl

HERE = Path(__file__).parent
LAB = "bf-line"
H3_LAN = "10.0.3.0/24"


@pytest.fixture(scope="module")
def ctx():
    labctl("up", str(HERE / "topologies" / "bgp-line.yml"), "--name", LAB, "-q", check=True)
    try:
        context = Context(LAB, load(LAB)[1])
        until(lambda: paths(context, "r2", H3_LAN), {(65003,): "valid"}, timeout=20)   # sessions up, RPKI synced
        until(lambda: best(context, "r1", H3_LAN), [65002, 65003])
        until(lambda: curl(context, "h1"), "h3")                     # and the routes back to h1 installed
        yield context
    finally:
        labctl("down", LAB, check=True)


def until(observe, wanted, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := observe()) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    assert seen == wanted


def fault(ctx: Context, name: str, **keys) -> str:
    step = FAULTS[name].model_validate(keys)
    assert step.problems(ctx.plan) == []
    return step.inject(ctx)


def _paths(ctx: Context, node: str, prefix: str) -> list[dict]:
    return vtysh_json(LAB, node, f"show bgp ipv4 unicast {prefix}", plan=ctx.plan).get("paths", [])


def _ases(path: dict) -> tuple[int, ...]:
    return tuple(a for segment in path["aspath"]["segments"] for a in segment["list"])


def paths(ctx: Context, node: str, prefix: str) -> dict[tuple[int, ...], str]:
    """Each path the router has to the prefix (its ASes) with its RPKI state."""
    return {_ases(p): p.get("rpkiValidationState") for p in _paths(ctx, node, prefix)}


def best(ctx: Context, node: str, prefix: str) -> list[int] | None:
    """The ASes of the router's best path ([] for its own route), None without one."""
    return next((list(_ases(p)) for p in _paths(ctx, node, prefix) if p.get("bestpath", {}).get("overall")), None)


def curl(ctx: Context, node: str) -> str:
    """Who answers on h3's address, as seen from `node`."""
    return ctx.run(node, ["curl", "-s", "--max-time", "1", "http://10.0.3.2/"]).stdout.strip()


def test_an_exact_prefix_hijack_takes_the_hijackers_as_and_withdrawing_it_restores_the_route(ctx):
    said = fault(ctx, "bgp_announce", node="r1", prefix=H3_LAN, serve="10.0.3.2")
    assert said == "r1 announces 10.0.3.0/24 (origin AS 65001), answering on 10.0.3.2"
    try:
        until(lambda: best(ctx, "r1", H3_LAN), [])                   # its own route wins (weight 32768)
        until(lambda: paths(ctx, "r2", H3_LAN), {(65001,): "invalid", (65003,): "valid"})
        assert best(ctx, "r2", H3_LAN) == [65003]                    # as long, and older: AS65002 stays
        assert curl(ctx, "h1") == "r1"                               # r1's host gets the hijacker's web server
    finally:
        said = fault(ctx, "bgp_withdraw", node="r1", prefix=H3_LAN)
    assert said == "r1 no longer announces 10.0.3.0/24; removed `ip route 10.0.3.0/24 blackhole`, 10.0.3.2 on lo"
    until(lambda: best(ctx, "r1", H3_LAN), [65002, 65003])
    until(lambda: curl(ctx, "h1"), "h3")


def test_rov_drops_a_wrong_origin_but_not_a_forged_one_and_turns_off_again(ctx):
    fault(ctx, "bgp_announce", node="r1", prefix=H3_LAN)
    try:
        until(lambda: paths(ctx, "r2", H3_LAN), {(65001,): "invalid", (65003,): "valid"})
        assert fault(ctx, "rov", node="r2", enabled=True).startswith("ROV on at r2: RPKI-invalid routes dropped")
        until(lambda: paths(ctx, "r2", H3_LAN), {(65003,): "valid"})
        said = fault(ctx, "bgp_announce", node="r1", prefix=H3_LAN, origin=65003)
        assert said == "r1 announces 10.0.3.0/24 (origin AS 65003, forged)"
        until(lambda: paths(ctx, "r2", H3_LAN), {(65001, 65003): "valid", (65003,): "valid"})
        fault(ctx, "bgp_announce", node="r1", prefix=H3_LAN)             # the wrong origin again: dropped
        until(lambda: paths(ctx, "r2", H3_LAN), {(65003,): "valid"})
        fault(ctx, "rov", node="r2", enabled=False)
        until(lambda: paths(ctx, "r2", H3_LAN), {(65001,): "invalid", (65003,): "valid"})
    finally:
        fault(ctx, "rov", node="r2", enabled=False)
        fault(ctx, "bgp_withdraw", node="r1", prefix=H3_LAN)
    until(lambda: paths(ctx, "r2", H3_LAN), {(65003,): "valid"})


def test_a_scenario_shows_a_subprefix_hijack_in_the_data_plane(ctx):
    run = labctl("run", str(HERE / "scenarios" / "bgp-subprefix-hijack.yml"), "--lab", LAB, timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("PASS") == 6 and "FAIL" not in run.stdout
