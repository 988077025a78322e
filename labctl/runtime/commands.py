"""Running programs inside a lab's nodes (through `ip netns exec`, so the lab's /etc/hosts applies)."""
from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labctl.kernel import processes
from labctl.paths import netns_name, service_dir
from labctl.plan import Plan
from labctl.runtime.state import load


def node_argv(lab: str, node: str, argv: list[str], plan: Plan | None = None) -> list[str]:
    """The argv that runs `argv` inside `node` of `lab`, after checking both exist; the commands its services put
    in their bin/ (FRR's vtysh) come first on its PATH."""
    found = (plan or load(lab)[1]).node_named(node)
    bins = [str(service_dir(lab, node, s.name) / "bin") for s in found.services if any(f.executable for f in s.files)]
    path = ["env", f"PATH={':'.join(bins)}:{os.environ.get('PATH', os.defpath)}"] if bins else []
    return ["ip", "netns", "exec", netns_name(lab, node), *path, *argv]


def run_in(lab: str, node: str, argv: list[str], timeout: float = 30, plan: Plan | None = None,
           ) -> subprocess.CompletedProcess:
    """Run a command inside a node and wait for it; on a timeout its whole process group is killed (see
    processes.run)."""
    return processes.run(node_argv(lab, node, argv, plan), timeout)


@dataclass
class PingResult:
    src: str
    dst: str
    ok: bool
    output: str


def ping_all(lab: str, count: int = 1, wait: float = 2) -> list[PingResult]:
    """Every host and router pings every other by name, in parallel."""
    _, plan = load(lab)
    names = [n.name for n in plan.nodes.values() if n.kind != "switch" and n.addresses()]
    pairs = [(a, b) for a in names for b in names if a != b]

    def ping(pair: tuple[str, str]) -> PingResult:
        done = run_in(lab, pair[0], ["ping", "-n", "-c", str(count), "-W", str(wait), pair[1]], plan=plan)
        return PingResult(pair[0], pair[1], done.returncode == 0, done.stdout + done.stderr)

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(ping, pairs))
