"""What every step has: a pydantic model of its keys, a title for reports, the nodes and links it names (checked
against the topology), how it is parsed from its mapping in the file and how it executes."""
from __future__ import annotations

from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from labctl.registry import Registry
from labctl.scenario.model import StepResult

if TYPE_CHECKING:
    from labctl.plan import Plan
    from labctl.scenario.context import Context
    from labctl.scenario.load import Parser


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: ClassVar[str]                            # the key that names the kind in a file, set by STEP_KINDS
    node_fields: ClassVar[tuple[str, ...]] = ()   # fields that name lab nodes, checked against the topology
    links_key: ClassVar[tuple[str, ...]] = ()     # where links() comes from in the file, for error messages
    name: str | None = None

    @classmethod
    def parse(cls, raw: dict, loc: tuple, parser: "Parser") -> Step | None:
        """The step from its mapping in the file (at `loc`), or None after telling `parser` what is wrong. By
        default the whole mapping is the model's keys (the kind's key is a field, by its alias)."""
        return parser.validate(cls, raw, loc)

    def execute(self, ctx: "Context", result: StepResult) -> None:
        """Do it, and say how it went in `result`: its status (left at 'done' if it did what it says), expected,
        observed, evidence. An exception makes the step an error."""
        raise NotImplementedError

    def title(self) -> str:
        """How reports name the step when the file gives no `name:`."""
        return self.name or f"{self.kind} {self.given()}".strip()

    def given(self, exclude: frozenset[str] = frozenset()) -> str:
        """The keys the file gives, as 'key value' ('via r1 r2, count 5'), with YAML key names."""
        values = self.model_dump(exclude={"name", *exclude}, exclude_none=True, exclude_unset=True, by_alias=True)
        return ", ".join(f"{key} {_shown(value)}" for key, value in values.items())

    def links(self) -> list[tuple[str, str]]:
        """Links (as node pairs) the step acts on, checked against the topology."""
        return []

    def node_refs(self) -> list[tuple[tuple, str]]:
        """The node names the step refers to, each with its key path in the step as written in the file
        (('from',), ('via', 1)); addresses and ${variables} in those fields are not names."""
        found: list[tuple[tuple, str]] = []
        for field_name in self.node_fields:
            key = type(self).model_fields[field_name].alias or field_name
            value = getattr(self, field_name)
            if isinstance(value, list):
                found += [((key, i), v) for i, v in enumerate(value)]
            elif value:
                found.append(((key,), value))
        return [(key, n) for key, n in found if "${" not in n and not is_address(n)]

    def problems(self, plan: "Plan") -> list[tuple[tuple, str]]:
        """What else the step needs of the lab and does not find there, as (key path, message); called once its
        nodes and links are known to exist."""
        return []

    def nested(self) -> list[tuple[tuple, Step]]:
        """Steps inside this one (the assertion of `wait: {until: ...}`), each with its key path."""
        return []


class NamedStep(Step):
    """A kind whose key's value names a registered model, which takes the other keys: `assert: reach`,
    `fault: link_down`."""

    models: ClassVar[Registry]

    @classmethod
    def parse(cls, raw: dict, loc: tuple, parser: "Parser") -> Step | None:
        model = parser.lookup(cls.models, raw[cls.kind], loc + (cls.kind,))
        return parser.validate(model, {k: v for k, v in raw.items() if k != cls.kind}, loc) if model else None


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(_shown, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def is_address(text: str) -> bool:
    try:
        ip_address(text)
        return True
    except ValueError:
        return False
