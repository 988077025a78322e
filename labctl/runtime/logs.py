"""Services' logs: which files, their last lines, and following them as they grow (`labctl logs -f`)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from labctl.errors import LabError
from labctl.plan import Plan
from labctl.runtime.services import log_path


def log_files(lab: str, plan: Plan, node: str, name: str | None = None) -> dict[str, Path]:
    """The log of one service of `node`, or of all its services, by service name."""
    names = [s.name for s in plan.node_named(node).services]
    if name is not None:
        plan.node(node).service_named(name)
    if not names:
        raise LabError(f"{node} runs no services in lab '{lab}', so it has no logs")
    return {n: log_path(lab, node, n) for n in ([name] if name else names)}


def tail(files: dict[str, Path], lines: int, follow: bool, poll: float = 0.2) -> Iterator[tuple[str, str]]:
    """The last `lines` lines of each file, as (name, line); with `follow`, then every line added, until
    interrupted (like `tail -f`)."""
    offsets = {}
    for name, path in files.items():
        data = path.read_bytes() if path.exists() else b""
        for line in data.decode(errors="replace").splitlines()[-lines:] if lines else []:
            yield name, line
        offsets[name] = len(data)
    while follow:
        for name, path in files.items():
            if path.exists() and path.stat().st_size > offsets[name]:
                with path.open("rb") as f:
                    f.seek(offsets[name])
                    chunk = f.read()
                complete = chunk[:chunk.rfind(b"\n") + 1]
                offsets[name] += len(complete)
                for line in complete.decode(errors="replace").splitlines():
                    yield name, line
        time.sleep(poll)
