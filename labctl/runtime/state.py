"""What a lab keeps on disk, under /run/labctl/<lab>/:

- plan.json: the compiled plan it was built from;
- created: a journal of the objects made outside the lab's namespaces (namespaces, /etc/netns folders, its
  cgroup), one line appended as each is made, so that `down` and `clean` remove exactly those, even after a
  crash, and never anything of the same name someone else made;
- state.json: what has happened to it since (links down, impairments, stopped nodes, services and their pids),
  the truth for every labctl process, changed under a lock and written atomically.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ValidationError

from labctl import paths
from labctl.errors import LabError
from labctl.paths import lab_dir
from labctl.plan import LinkPlan, Plan, ServicePlan, Shaping


class SavedRoute(BaseModel):
    """A route the kernel dropped with its interface, as pyroute2 puts it back (`ipr.route("replace", ...)`)."""

    family: int
    dst: str                         # "10.0.1.0/24", "0.0.0.0/0"
    gateway: str | None = None
    priority: int | None = None
    proto: int | None = None
    scope: int | None = None
    type: int | None = None


class ShapedDirection(BaseModel):
    """One direction of a link as it is shaped now, and by which back end where (see impair.choose)."""

    shaping: Shaping
    backend: str                     # kernel, emulator
    node: str                        # whose namespace does it
    ifname: str
    hook: str                        # egress, ingress
    sender: str
    receiver: str
    queue: int | None = None         # the emulator's NFQUEUE number in that namespace


class ServiceState(BaseModel):
    pid: int | None = None           # the service's main process, while it runs
    started: float | None = None     # epoch seconds
    stopped: bool = False            # stopped on purpose (a fault, node_stop): not a failure


class LabState(BaseModel):
    name: str
    status: str = "building"                        # building -> running
    created: float = 0.0
    links_down: list[int] = []                      # indexes into plan.links
    saved_routes: dict[str, list[SavedRoute]] = {}  # "node:interface" -> routes the kernel dropped with it
    impairments: dict[int, LinkPlan] = {}           # link index -> the link with the conditions set since
    stopped_nodes: dict[str, list[int]] = {}        # node -> the links that were up when it stopped
    services: dict[str, ServiceState] = {}          # "node/service"; "/service" for the lab's own
    lab_services: dict[str, ServicePlan] = {}       # services the lab runs itself, started when needed
    shaped: dict[int, list[ShapedDirection]] = {}  # link index -> how each shaped direction is shaped now

    def service(self, node: str | None, name: str) -> ServiceState:
        return self.services.setdefault(f"{node or ''}/{name}", ServiceState())


@dataclass
class Created:
    """What the journal says was made: namespace name -> inode (None: perhaps only its placeholder file; 0: not
    ours), /etc/netns folders, cgroups."""

    namespaces: dict[str, int | None] = field(default_factory=dict)
    etc: list[Path] = field(default_factory=list)
    cgroups: list[Path] = field(default_factory=list)


class Journal:
    """Appends one line per object made, as it is made."""

    def __init__(self, lab: str):
        self.file = open(lab_dir(lab) / "created", "a", buffering=1)

    def namespace(self, name: str, inode: int | None) -> None:
        """None: about to take the name; 0: someone else holds it; else the namespace's inode."""
        self.file.write(f"netns {name} {'-' if inode is None else inode}\n")

    def etc(self, folder: Path, taken: bool = False) -> None:
        """Written before the folder is made; again with `taken` if someone else had made it after all."""
        self.file.write(f"{'etc-taken' if taken else 'etc'} {folder}\n")

    def cgroup(self, path: Path, taken: bool = False) -> None:
        """Written before the group is made; again with `taken` if someone else had made it after all."""
        self.file.write(f"{'cgroup-taken' if taken else 'cgroup'} {path}\n")

    def close(self) -> None:
        self.file.close()


def created(lab: str) -> Created:
    """Read the journal; a line cut short by a crash, or any other unreadable line, is skipped."""
    found = Created()
    try:
        lines = (lab_dir(lab) / "created").read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        kind, _, rest = line.partition(" ")
        words = rest.split()
        if kind == "netns" and len(words) == 2 and (words[1].isdigit() or words[1] == "-"):
            found.namespaces[words[0]] = None if words[1] == "-" else int(words[1])
        elif kind == "etc" and rest.startswith("/"):
            found.etc.append(Path(rest))
        elif kind == "etc-taken" and Path(rest) in found.etc:
            found.etc.remove(Path(rest))
        elif kind == "cgroup" and rest.startswith("/"):
            found.cgroups.append(Path(rest))
        elif kind == "cgroup-taken" and Path(rest) in found.cgroups:
            found.cgroups.remove(Path(rest))
    return found


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def save(state: LabState) -> None:
    _write(lab_dir(state.name) / "state.json", state.model_dump_json(indent=1))


def already_up(lab: str) -> LabError:
    return LabError(f"a lab named '{lab}' is already up; `labctl down {lab}` first, or pick another name with "
                    "--name (`labctl clean` removes what a crash left)")


def claim(plan: Plan) -> tuple[LabState, Journal]:
    """Reserve the lab's name (atomically) and record its plan before anything is created."""
    paths.STATE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        lab_dir(plan.name).mkdir()
    except FileExistsError:
        raise already_up(plan.name) from None
    _write(lab_dir(plan.name) / "plan.json", plan.model_dump_json(indent=1))
    state = LabState(name=plan.name, created=time.time())
    save(state)
    return state, Journal(plan.name)


def load(lab: str) -> tuple[LabState, Plan]:
    path = lab_dir(lab)
    try:
        state = LabState.model_validate_json((path / "state.json").read_text())
        plan = Plan.model_validate_json((path / "plan.json").read_text())
    except FileNotFoundError:
        raise LabError(f"no lab named '{lab}' is up (running labs: {', '.join(list_labs()) or 'none'})") from None
    except (ValidationError, ValueError) as exc:
        raise LabError(f"the state of lab '{lab}' in {path} is unreadable ({str(exc).splitlines()[0]}); "
                       f"`labctl down {lab}` or `labctl clean` still removes it") from None
    return state, plan


@contextmanager
def changing(lab: str) -> Iterator[tuple[LabState, Plan]]:
    """The lab's state and plan, locked against other labctl processes; the state is saved when the body ends,
    even if it raised (what was done before the error did happen)."""
    if not lab_dir(lab).is_dir():
        load(lab)                                # says no such lab
    with open(lab_dir(lab) / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state, plan = load(lab)
        try:
            yield state, plan
        finally:
            save(state)


def list_labs() -> list[str]:
    if not paths.STATE_DIR.is_dir():
        return []
    return sorted(p.name for p in paths.STATE_DIR.iterdir() if (p / "state.json").exists())


def forget(lab: str) -> None:
    """Remove the lab's folder: what remains of it once everything it made is gone."""
    shutil.rmtree(lab_dir(lab))
