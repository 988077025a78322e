"""cgroup v2 groups for a lab's processes: each service and each node's commands in a group of their own, so
stopping them reaches every process they forked, and nothing else. Found wherever cgroup2 is mounted:
/sys/fs/cgroup on a systemd machine, a unified hierarchy beside cgroup v1 on others."""
from __future__ import annotations

import os
import signal
import time
from functools import cache
from pathlib import Path

from labctl.errors import LabError

ROOT_NAME = "labctl"        # labctl's groups: <cgroup2 mount>/labctl/<lab>/...


@cache
def mount() -> Path | None:
    """Where the cgroup2 hierarchy is mounted, or None."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            return Path(left.split()[4])
    return None


def lab_group(lab: str) -> Path | None:
    root = mount()
    return root / ROOT_NAME / lab if root else None


def create(path: Path, exclusive: bool = False) -> None:
    """Make the group (its parents as needed); with `exclusive`, a group already there is an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(exist_ok=not exclusive)
    except FileExistsError:
        raise LabError(f"cgroup {path} already exists (labctl did not make it)") from None


def join(path: Path, pid: int = 0) -> None:
    """Move `pid` (0: the calling process) into the group."""
    (path / "cgroup.procs").write_text(str(pid))


def pids(path: Path) -> list[int]:
    """Every process in the group and the groups below it."""
    found = []
    for folder, _, _ in os.walk(path):
        try:
            found += [int(p) for p in Path(folder, "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            pass
    return found


def contains(path: Path, pid: int) -> bool:
    """True if `pid` is in the group (or one below it): a pid recorded earlier still means the same process."""
    try:
        relative = Path("/proc", str(pid), "cgroup").read_text().split("0::", 1)[1].split("\n")[0]
    except (OSError, IndexError):
        return False
    return (mount() / relative.lstrip("/")).is_relative_to(path)


def kill(path: Path, timeout: float = 5.0) -> None:
    """SIGKILL every process in the group and below, and wait until they are gone."""
    if not path.is_dir():
        return
    deadline = time.monotonic() + timeout
    while pids(path) and time.monotonic() < deadline:
        if (path / "cgroup.kill").exists():
            (path / "cgroup.kill").write_text("1")
        else:                                   # kernels before 5.14
            for pid in pids(path):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.01)
    if left := pids(path):
        raise LabError(f"processes {', '.join(map(str, left[:10]))} of cgroup {path} would not die")


def remove(path: Path) -> None:
    """Remove the group and the groups below it (they must be empty of processes)."""
    if not path.is_dir():
        return
    for folder, _, _ in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
        Path(folder).rmdir()


def remove_if_empty(path: Path) -> None:
    """Remove a group shared by several users (labctl's own) once the last one is gone."""
    try:
        path.rmdir()
    except OSError:
        pass
