"""Typed models of a topology file. Parsing rules for units live here; cross-references are checked in validate.py."""
from __future__ import annotations

import re
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

NodeKind = Literal["host", "router", "switch"]

_UNITS_BPS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z%]*)\s*$")


def _quantity(value: Any, units: dict[str, float], default_unit: str, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {what}")
    if isinstance(value, (int, float)):
        return float(value) * units[default_unit]
    match = _QUANTITY.match(str(value))
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in units):
        raise ValueError(f"expected {what}, e.g. 10{default_unit}; units: {', '.join(u for u in units if u)}")
    return float(match.group(1)) * units[unit or default_unit]


def parse_rate(value: Any) -> int:
    """'10mbit', '1gbit', '500kbit' (or a bare number of Mbit/s) -> bits per second."""
    return int(_quantity(value, _UNITS_BPS | {"": 10**6}, "mbit", "a rate"))


def parse_duration_ms(value: Any) -> float:
    """'5ms', '1s', '250us' (or a bare number of ms) -> milliseconds."""
    return _quantity(value, _UNITS_MS, "ms", "a duration")


def parse_percent(value: Any) -> float:
    """'1.5%' or 1.5 -> 1.5 (percent, 0..100)."""
    pct = _quantity(value, {"%": 1.0}, "%", "a percentage")
    if not 0 <= pct <= 100:
        raise ValueError("expected a percentage between 0 and 100")
    return pct


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkParams(Strict):
    """Shaping of a link, applied on both ends (so `delay` is one-way and RTT is twice it)."""

    rate: int | None = Field(None, description="bits/s")
    delay: float | None = Field(None, description="ms, one way")
    jitter: float | None = Field(None, description="ms")
    loss: float | None = Field(None, description="percent, each direction")
    queue: int | None = Field(None, ge=1, le=100000, description="packets")
    mtu: int | None = Field(None, ge=576, le=65535)

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> int | None:
        return None if value is None else parse_rate(value)

    @field_validator("delay", "jitter", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration_ms(value)

    @field_validator("loss", mode="before")
    @classmethod
    def _loss(cls, value: Any) -> float | None:
        return None if value is None else parse_percent(value)

    @field_validator("jitter")
    @classmethod
    def _jitter_needs_delay(cls, value: float | None, info: ValidationInfo) -> float | None:
        # a field validator (not a model one) so the message points at `jitter:`; a delay that failed its own
        # validation is absent from info.data, and gets no second message here
        if value and not info.data.get("delay", True):
            raise ValueError("jitter varies the delay, so it needs a delay on the same link, e.g. delay: 10ms")
        return value

    def is_shaped(self) -> bool:
        return any(v is not None for k, v in self if k != "mtu")


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


class Link(LinkParams):
    endpoints: list[Endpoint] = Field(min_length=2, max_length=2)
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


class Node(Strict):
    kind: NodeKind = "host"
    loopback: IPv4Interface | None = None
    subnet: IPv4Network | None = Field(None, description="switches: the LAN's IPv4 subnet")
    ipv6_subnet: IPv6Network | None = None
    routes: list[Route] = []
    auto_routes: bool = Field(True, description="false: no computed routes (or gateway) for this node; "
                                                "only its own routes: (an exercise can start broken this way)")

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
