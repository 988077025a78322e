"""What labctl needs installed: the programs its core runs (with their Debian packages) and those of every
service. `labctl doctor` checks them, `make setup` installs the packages (`python -m labctl.needs` lists
them), and bringing a lab up refuses to start a service whose programs are missing."""
from __future__ import annotations

import os
import shutil

from labctl.services import SERVICES

CORE = {
    "ip": "iproute2", "tc": "iproute2", "ping": "iputils-ping", "traceroute": "traceroute", "iperf3": "iperf3",
    "tcpdump": "tcpdump", "nft": "nftables", "iptables": "iptables", "ip6tables": "iptables", "curl": "curl",
    "dot": "graphviz", "mnexec": "mininet",
}
BENCH = {"brctl": "bridge-utils"}           # Mininet's Linux bridges, in the benchmark's Mininet build


def programs() -> dict[str, tuple[str, str]]:
    """Every program labctl, its benchmark or a service runs -> (Debian package, who needs it)."""
    found = {program: (package, "labctl") for program, package in CORE.items()}
    found |= {program: (package, "make bench") for program, package in BENCH.items()}
    for name, service in sorted(SERVICES.items()):
        for program, package in service.programs.items():
            found.setdefault(program, (package, f"service {name}"))
    return found


def packages() -> list[str]:
    return sorted({package for package, _ in programs().values()})


def installed(program: str) -> str | None:
    """Where the program is; a file named by its path (a daemon's module) need only exist."""
    return program if program.startswith("/") and os.path.exists(program) else shutil.which(program)


def missing() -> dict[str, tuple[str, str]]:
    return {program: need for program, need in programs().items() if not installed(program)}


if __name__ == "__main__":
    print("\n".join(packages()))
