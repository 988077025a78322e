"""A scenario Context over the demo lab's plan, without a kernel, for the assertion and traffic tests."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

from labctl.plan import Plan
from labctl.scenario.context import Context
from labctl.topology import compile_plan, load_topology

REPO = Path(__file__).resolve().parents[2]
PLAN = compile_plan(*load_topology(REPO / "topologies" / "demo.yml"))
Answer = str | subprocess.CompletedProcess | Callable[[list[str]], subprocess.CompletedProcess]
Printed = str | Callable[[list[str]], str]


class FakeContext(Context):
    """The demo lab (or another plan), faked: `run` answers from `answers` (by program name); `popen` starts a real
    `sleep` that first prints `printed[program]` (or exits after printing, for programs in `exits`), so that stopping
    it by pid is real too."""

    def __init__(self, answers: dict[str, Answer] | None = None, printed: dict[str, Printed] | None = None,
                 exits: set[str] = frozenset(), plan: Plan = PLAN):
        super().__init__(plan.name, plan)
        self.answers, self.printed, self.exits = answers or {}, printed or {}, exits
        self.ran: list[tuple[str, list[str]]] = []
        self.started: list[tuple[str, list[str], subprocess.Popen]] = []

    def run(self, node, command, timeout=30):
        self.ran.append((node, command))
        answer = self.answers[command[0]]
        if callable(answer):
            return answer(command)
        if isinstance(answer, str):
            return subprocess.CompletedProcess(command, 0, answer, "")
        return answer

    def popen(self, node, argv):
        text = self.printed.get(argv[0], "")
        text = text(argv) if callable(text) else text
        then = "exit 1" if argv[0] in self.exits else "exec sleep 30"
        process = subprocess.Popen(["sh", "-c", f'printf "%s" "$1"; {then}', "sh", text], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.started.append((node, argv, process))
        return process

    def failed_services(self):
        return []

    def all_stopped(self) -> bool:
        return all(process.poll() is not None for _, _, process in self.started)


def ping_output(target: str, rtts: list[float | None], errors: str = "") -> str:
    """What `ping -D -n -c N` prints; None is a lost packet."""
    lines = [f"PING {target} ({target}) 56(84) bytes of data."]
    lines += [f"[{1795294396.581843 + 0.204 * i:.6f}] 64 bytes from {target}: icmp_seq={i + 1} ttl=62 time={rtt} ms"
              for i, rtt in enumerate(rtts) if rtt is not None]
    received = sum(r is not None for r in rtts)
    loss = round(100 * (len(rtts) - received) / len(rtts))
    lines += ["", f"--- {target} ping statistics ---",
              f"{len(rtts)} packets transmitted, {received} received{errors}, {loss}% packet loss, time 408ms"]
    return "\n".join(lines) + "\n"
