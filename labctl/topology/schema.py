"""Typed models of a topology file; cross-references are checked in validate.py."""
from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.plan import NodeKind
from labctl.topology.routing_schema import LinkRouting, RouterRouting, Routing, Rpki
from labctl.topology.shaping import LinkShaping


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Endpoint(Strict):
    node: str
    interface: str | None = None
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            node, _, interface = value.partition(":")
            return {"node": node, "interface": interface or None}
        return value


class Link(LinkShaping, LinkRouting):
    """A link, its conditions (see shaping.py), applied in each direction unless `from:` says otherwise, and its
    routing keys (routing_schema.py)."""

    endpoints: list[Endpoint] = Field(min_length=2, max_length=2)
    mtu: int | None = Field(None, ge=576, le=65535)
    subnet: IPv4Network | None = None
    ipv6_subnet: IPv6Network | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"endpoints": value} if isinstance(value, list) else value

    @field_validator("endpoints", mode="before")
    @classmethod
    def _two_endpoints(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) != 2:
            raise ValueError(f"a link joins exactly two nodes, got {len(value)}; "
                             "to join more, connect them to a switch")
        return value


class Route(Strict):
    """An extra static route: `via` is a neighbour's name or a next-hop address."""

    dst: IPv4Network | IPv6Network
    via: str
    metric: int = Field(200, ge=1, le=65535)


class Node(RouterRouting):
    """A node; a router's routing keys are in routing_schema.py."""

    kind: NodeKind = "host"
    loopback: IPv4Interface | None = None
    subnet: IPv4Network | None = Field(None, description="switches: the LAN's IPv4 subnet")
    ipv6_subnet: IPv6Network | None = None
    routes: list[Route] = []
    auto_routes: bool = Field(True, description="false: no computed routes (or gateway) for this node; "
                                                "only its own routes: (an exercise can start broken this way)")
    services: dict[str, dict[str, Any]] = Field({}, description="service name: its parameters; each service "
                                                                "checks its own (labctl/services)")

    @field_validator("services", mode="before")
    @classmethod
    def _service_list(cls, value: Any) -> Any:
        """`services: [web]` is `services: {web: {}}`; `web:` with nothing after it is `web: {}`."""
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return dict.fromkeys(value, {})
        if not isinstance(value, dict):
            raise ValueError("expected a list of service names, e.g. [web], or a mapping of each service to its "
                             "parameters, e.g. {web: {port: 8080}}")
        return {k: {} if v is None else v for k, v in value.items()}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {"kind": value} if isinstance(value, str) else value


class Addressing(Strict):
    """Pools the compiler carves subnets from."""

    lan: IPv4Network = IPv4Network("10.0.0.0/16")
    lan_prefix: int = Field(24, ge=8, le=30)
    p2p: IPv4Network = IPv4Network("10.255.0.0/16")
    p2p_prefix: Literal[30, 31] = 31
    loopback: IPv4Network = IPv4Network("10.254.0.0/24")
    ipv6: IPv6Network | None = Field(None, description="a /48 or shorter; LANs get /64s, links /127s, loopbacks /128s")


class Topology(Strict):
    name: str
    description: str | None = None
    addressing: Addressing = Addressing()
    nodes: dict[str, Node] = Field(min_length=1)
    links: list[Link] = []
    impair_backend: Literal["auto", "kernel", "emulator"] = Field(
        "auto", description="who shapes links: the kernel's qdiscs where they can, else the emulator (auto)")
    routing: Routing = Routing()
    rpki: Rpki | None = None
