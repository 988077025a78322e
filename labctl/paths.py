"""Where a lab lives on the machine: its state folder, each node's named namespace, /etc files and service
folders. Plain functions of the lab's name, used by the compiler (generated configs name these paths) and the
runtime alike."""
from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = Path(os.environ.get("LABCTL_STATE_DIR", "/run/labctl"))
ETC_NETNS = Path("/etc/netns")
NETNS_DIR = Path("/run/netns")


def netns_name(lab: str, node: str) -> str:
    """The named namespace of a node: `ip netns exec demo.h1 ...` works for every node."""
    return f"{lab}.{node}"


def lab_dir(lab: str) -> Path:
    return STATE_DIR / lab


def service_dir(lab: str, node: str | None, service: str) -> Path:
    """A service's own folder: its generated files, log, pid and exit status. A service of the lab itself (the
    link emulator: node None) runs in the root namespace and has its folder in the lab's."""
    return lab_dir(lab) / "nodes" / node / service if node else lab_dir(lab) / service


def service_log(lab: str, node: str | None, service: str) -> Path:
    """A service's log: its output, and what its daemons write there themselves (FRR's `log file`)."""
    return service_dir(lab, node, service) / "log"


def node_file(lab: str, node: str, path: str) -> Path:
    """Where a file the node sees at `path` is kept on the machine: a file under /etc goes to /etc/netns/<ns>/,
    which `ip netns exec` mounts over /etc for the node's processes; any other path is used as it is."""
    if path.startswith("/etc/"):
        return ETC_NETNS / netns_name(lab, node) / path.removeprefix("/etc/")
    return Path(path)
