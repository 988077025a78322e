"""Running programs inside a lab's nodes (through `ip netns exec`, so the lab's /etc/hosts applies)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labctl.errors import LabError
from labctl.paths import netns_name
from labctl.runtime.state import load
from labctl.plan import Plan


def node_argv(lab: str, node: str, argv: list[str], plan: Plan | None = None) -> list[str]:
    """The argv that runs `argv` inside `node` of `lab`, after checking both exist."""
    plan = plan or load(lab)[1]
    if node not in plan.nodes:
        raise LabError(f"lab '{lab}' has no node '{node}'; nodes: {', '.join(plan.nodes)}")
    return ["ip", "netns", "exec", netns_name(lab, node), *argv]


def run_in(lab: str, node: str, argv: list[str], timeout: float = 30, plan: Plan | None = None,
           ) -> subprocess.CompletedProcess:
    """Run a command inside a node and wait for it, as subprocess.run does (TimeoutExpired after `timeout`), in a
    session of its own: on a timeout or Ctrl-C its whole process group is killed, what it started in the
    background too (which would otherwise keep its output open), and it is reaped."""
    with subprocess.Popen(node_argv(lab, node, argv, plan), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


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
