"""What steps see of the lab they run against: commands on nodes, addresses, variables, background traffic.
Unit tests replace `run` and `popen` to fake a lab."""
from __future__ import annotations

import shlex
import subprocess
import time
from typing import TYPE_CHECKING

from labctl.errors import LabError
from labctl.plan import Plan
from labctl.runtime import services
from labctl.runtime.backend import KernelBackend
from labctl.runtime.commands import node_argv, run_in
from labctl.runtime.state import load

if TYPE_CHECKING:
    from labctl.scenario.flows.base import Flow


class Context:
    def __init__(self, lab: str, plan: Plan):
        self.lab, self.plan = lab, plan
        self.t0 = time.monotonic()
        self.variables: dict[str, str] = {"lab": lab}        # exec steps add theirs (capture)
        self.flows: dict[str, "Flow"] = {}
        self._owners = plan.owners()
        self._noticed: set[tuple] = set()

    def now(self) -> float:
        """Seconds since the scenario started."""
        return time.monotonic() - self.t0

    def run(self, node: str, command: list[str] | str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command on a node and wait for it (a string is split like a shell would, without a shell)."""
        argv = shlex.split(command) if isinstance(command, str) else command
        try:
            return run_in(self.lab, node, argv, timeout=timeout, plan=self.plan)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return subprocess.CompletedProcess(argv, 124, out, f"timed out after {timeout:g} s")

    def shell(self, node: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command line with `sh -c` on a node and wait for it."""
        return self.run(node, ["sh", "-c", command], timeout=timeout)

    def popen(self, node: str, argv: list[str]) -> subprocess.Popen:
        """Start a background command on a node; its output is read as text, line by line."""
        return subprocess.Popen(node_argv(self.lab, node, argv, self.plan), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)

    def failed_services(self) -> list[tuple[str, str]]:
        """('service web on h4 failed (exit 1)', the end of its log) for each service of the lab that exited or
        was killed, without a fault or node_stop stopping it, since the last call."""
        try:
            state, _ = load(self.lab)
        except LabError:                                    # the lab is gone: nothing more to notice
            return []
        found = []
        for s in services.status(KernelBackend(), self.lab, self.plan, state):
            if s.state == "failed" and (s.node, s.name, s.since) not in self._noticed:
                self._noticed.add((s.node, s.name, s.since))
                found.append((f"service {s.name} on {s.node} {s.describe()}", services.log_tail(self.lab, s.node, s.name)))
        return found

    def address(self, target: str, family: int = 4) -> str:
        """A node's primary address of that family (loopback first for routers); anything else unchanged."""
        if target not in self.plan.nodes:
            return target
        found = [a for a in self.plan.node(target).addresses() if (":" in a) == (family == 6)]
        return found[0] if found else target

    def node_of(self, address: str) -> str | None:
        """Which node owns an address."""
        return self._owners.get(address)

    def server_node(self, target: str, who: str) -> str:
        """The node `target` (a name or one of its addresses) is, for `who` to start a server on."""
        node = target if target in self.plan.nodes else self.node_of(target)
        if node is None:
            raise RuntimeError(f"{who} starts a server on `to`, and '{target}' is no node of the lab")
        return node
