"""Talking to a running router's FRR: vtysh commands and their JSON output, the way a student would type them
(`labctl exec LAB r1 -- vtysh -c ...` runs the same wrapper). Assertions, faults and the looking glass use it."""
from __future__ import annotations

import json
from typing import Any

from labctl.errors import LabError
from labctl.plan import BgpNeighborPlan, Plan, RoutingPlan
from labctl.runtime.commands import run_in

TIMEOUT = 10.0


def require_frr(plan: Plan, node: str) -> None:
    """A LabError unless `node` is a router of the plan running FRR."""
    found = plan.node_named(node)
    if found.routing is None:
        routers = ", ".join(n.name for n in plan.nodes.values() if n.routing) or "none"
        raise LabError(f"{node} runs no FRR (routers with routing keys: {routers})")


def bgp_speakers(plan: Plan) -> list[str]:
    """The routers that run BGP (those with an asn)."""
    return [n.name for n in plan.nodes.values() if n.routing and n.routing.asn]


def require_bgp(plan: Plan, node: str) -> RoutingPlan:
    """The router's routing plan, or a LabError unless `node` runs BGP."""
    routing = plan.node_named(node).routing
    if routing is None or routing.asn is None:
        raise LabError(f"{node} runs no BGP (routers with an asn: {', '.join(bgp_speakers(plan)) or 'none'})")
    return routing


def vtysh(lab: str, node: str, *commands: str, plan: Plan | None = None, timeout: float = TIMEOUT) -> str:
    """Run vtysh commands (each a `-c`) on the router; its output, or a LabError with vtysh's complaint."""
    argv = ["vtysh"] + [part for command in commands for part in ("-c", command)]
    done = run_in(lab, node, argv, timeout=timeout, plan=plan)
    if done.returncode != 0:
        raise LabError(f"vtysh on {node} ({'; '.join(commands)}) exits {done.returncode}: "
                       f"{(done.stdout + done.stderr).strip()[-300:]}")
    return done.stdout


def vtysh_json(lab: str, node: str, command: str, plan: Plan | None = None, timeout: float = TIMEOUT) -> Any:
    """The parsed output of a vtysh `show ... json` command (`json` is added if missing; `json detail` is kept)."""
    command = command if "json" in command.split() else f"{command} json"
    text = vtysh(lab, node, command, plan=plan, timeout=timeout)
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        raise LabError(f"`{command}` on {node} did not answer JSON: {text.strip()[:200]}") from None


def configure(lab: str, node: str, lines: list[str], plan: Plan | None = None) -> str:
    """Apply configuration lines in vtysh's configure mode, as one transaction (`configure terminal`, the lines,
    `end`)."""
    return vtysh(lab, node, "configure terminal", *lines, "end", plan=plan)


def sessions_with(plan: Plan, node: str, neighbor: str) -> list[BgpNeighborPlan]:
    """The router's BGP sessions to `neighbor` (one per address family), or a LabError naming its neighbours."""
    require_frr(plan, node)
    found = [n for n in plan.node(node).routing.neighbors if n.node == neighbor]
    if not found:
        known = ", ".join(dict.fromkeys(n.node for n in plan.node(node).routing.neighbors)) or "none"
        raise LabError(f"{node} has no BGP session with '{neighbor}'; its neighbours: {known}")
    return found
