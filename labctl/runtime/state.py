"""What a lab left on disk: its plan and status under /run/labctl, and the names it gives kernel objects."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labctl.errors import LabError
from labctl.plan import Plan

STATE_DIR = Path(os.environ.get("LABCTL_STATE_DIR", "/run/labctl"))
ETC_NETNS = Path("/etc/netns")


def netns_name(lab: str, node: str) -> str:
    """The named namespace of a node: `ip netns exec demo.h1 ...` works for every node."""
    return f"{lab}.{node}"


@dataclass
class LabState:
    name: str
    status: str = "building"                    # building -> running
    created: float = field(default_factory=time.time)
    namespaces: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)   # processes labctl started in the lab

    @property
    def dir(self) -> Path:
        return STATE_DIR / self.name

    def save(self) -> None:
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(self.dir / "state.json")


def claim(plan: Plan) -> LabState:
    """Reserve the lab's name (atomically) and record its plan before anything is created."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = LabState(plan.name, namespaces=[netns_name(plan.name, n) for n in plan.nodes])
    try:
        state.dir.mkdir()
    except FileExistsError:
        raise LabError(f"a lab named '{plan.name}' is already up; `labctl down {plan.name}` first, "
                       f"or pick another name with --name") from None
    (state.dir / "plan.json").write_text(plan.model_dump_json(indent=1))
    state.save()
    return state


def load(lab: str) -> tuple[LabState, Plan]:
    path = STATE_DIR / lab
    try:
        state = LabState(**json.loads((path / "state.json").read_text()))
        plan = Plan.model_validate_json((path / "plan.json").read_text())
    except FileNotFoundError:
        running = ", ".join(list_labs()) or "none"
        raise LabError(f"no lab named '{lab}' is up (running labs: {running})") from None
    return state, plan


def list_labs() -> list[str]:
    if not STATE_DIR.is_dir():
        return []
    return sorted(p.name for p in STATE_DIR.iterdir() if (p / "state.json").exists())


def forget(state: LabState) -> None:
    for name in ("state.json", "state.json.tmp", "plan.json"):
        (state.dir / name).unlink(missing_ok=True)
    state.dir.rmdir()
