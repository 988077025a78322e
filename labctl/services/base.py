"""What every service declares, and how it is rendered into the plan.

A service is a class: its name, its parameters model, the programs it runs (with the Debian package of each,
for `doctor`, preflight and `make setup`), the node kinds it runs on, the services it starts after, and
`render()`, which turns its parameters and the node's plan into a ServicePlan: the files it needs, its command
line (run in the foreground, in the node's namespace), its health check and how it stops. Rendering is part of
compiling: nothing here touches the machine."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import jinja2
from pydantic import BaseModel, ConfigDict

from labctl.paths import service_dir
from labctl.plan import FilePlan, NodeKind, NodePlan, Plan, ServicePlan

_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                trim_blocks=True, lstrip_blocks=True)


class Params(BaseModel):
    """A service's parameters, as given under `services:` in the topology file. Subclass it to add some."""

    model_config = ConfigDict(extra="forbid")


class Service:
    name: ClassVar[str]                              # set by SERVICES.register
    Params: ClassVar[type[Params]] = Params
    programs: ClassVar[dict[str, str]] = {}          # command (or absolute path) -> Debian package
    kinds: ClassVar[tuple[NodeKind, ...]] = ("host", "router")
    after: ClassVar[tuple[str, ...]] = ()            # services that are healthy before this one starts
    implied: ClassVar[str] = ""                      # where labctl runs it itself: never under `services:`

    def __init__(self, params: Params, node: NodePlan, plan: Plan):
        self.params, self.node, self.plan = params, node, plan
        self.dir = service_dir(plan.name, node.name, self.name)

    def render(self) -> ServicePlan:
        raise NotImplementedError

    def template(self, name: str, **context: Any) -> str:
        """templates/<service>/<name>, with this service as `service`, its params, node and plan."""
        return _TEMPLATES.get_template(f"{self.name}/{name}").render(
            service=self, params=self.params, node=self.node, plan=self.plan, **context)

    def file(self, path: str | Path, content: str, executable: bool = False) -> FilePlan:
        """A file the node sees at `path`: under /etc (the node's own) or in the service's folder, nowhere else,
        so that labctl knows what to remove."""
        if not (str(path).startswith("/etc/") or Path(path).is_relative_to(self.dir)):
            raise ValueError(f"service {self.name}: {path} is neither under /etc nor in {self.dir}")
        return FilePlan(path=str(path), content=content, executable=executable)

    def plan_of(self, **fields: Any) -> ServicePlan:
        """The ServicePlan of this service, with `after` from the class."""
        for path in fields.get("runtime_dirs", []):
            if not Path(path).is_relative_to(self.dir):
                raise ValueError(f"service {self.name}: runtime folder {path} is not in {self.dir}")
        return ServicePlan(name=self.name, after=list(self.after), **fields)
