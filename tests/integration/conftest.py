"""Integration tests build real labs: they need root, and each one must leave the machine as it found it."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from labctl.kernel import cgroups, netns
from labctl.paths import ETC_NETNS, STATE_DIR

REPO = Path(__file__).resolve().parents[2]
LABCTL = [str(REPO / ".venv" / "bin" / "labctl")]


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.root)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="integration tests need root"))


def _pids_outside_root_netns() -> set[int]:
    root = os.stat("/proc/self/ns/net").st_ino
    pids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino != root:
                    pids.add(int(entry.name))
            except OSError:
                pass
    return pids


def snapshot() -> dict[str, set]:
    """Every kind of object a lab could leave behind."""
    mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if "/run/netns/" in line.split()[4]}
    links = set(re.findall(r"^\d+: ([^:@]+)", subprocess.run(["ip", "-o", "link"], capture_output=True,
                                                               text=True).stdout, re.M))
    return {
        "namespaces": set(os.listdir(netns.NETNS_DIR)) if netns.NETNS_DIR.is_dir() else set(),
        "root interfaces": links,
        "/etc/netns entries": set(os.listdir(ETC_NETNS)) if ETC_NETNS.is_dir() else set(),
        "lab state": set(os.listdir(STATE_DIR)) if STATE_DIR.is_dir() else set(),
        "netns mounts": mounts,
        "processes in namespaces": _pids_outside_root_netns(),
        "labctl cgroups": _labctl_cgroups(),
    }


def _labctl_cgroups() -> set[str]:
    root = cgroups.mount() / cgroups.ROOT_NAME if cgroups.mount() else None
    return {str(root)} | {str(p) for p in root.rglob("*") if p.is_dir()} if root and root.is_dir() else set()


def leftovers(before: dict[str, set]) -> dict[str, set]:
    after = snapshot()
    return {kind: after[kind] - before[kind] for kind in after if after[kind] - before[kind]}


@pytest.fixture(autouse=True)
def no_leaks():
    """Fail the test if it leaves any namespace, interface, mount, state or process behind."""
    before = snapshot()
    yield
    left = leftovers(before)
    assert not left, f"left behind: {left}"


def labctl(*args: str, check: bool = False, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run the installed labctl command as a user would."""
    done = subprocess.run(LABCTL + list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check:
        assert done.returncode == 0, f"labctl {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done
