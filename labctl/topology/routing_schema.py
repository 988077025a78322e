"""What a topology file says about dynamic routing: a router's AS, OSPF and BGP attributes, a link's business
relationship, cost, BFD and filters, the lab's timers and its RPKI (ROAs and the validator serving them).
protocols.py compiles them into each router's RoutingPlan."""
from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.units import Duration

ASN_MAX = 4294967294                # RFC 6793; 0 and 4294967295 are reserved


def _asn(value: int) -> int:
    if not 1 <= value <= ASN_MAX:
        raise ValueError(f"an AS number is 1 to {ASN_MAX} (0 and 4294967295 are reserved)")
    return value


AsNumber = Annotated[int, AfterValidator(_asn)]
Prefix = IPv4Network | IPv6Network
Relationship = Literal["provider", "customer", "peer"]
COMMUNITY = r"^\d{1,5}:\d{1,5}$|^(no-export|no-advertise|blackhole|graceful-shutdown)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ospf(_Strict):
    """`ospf: true` or `ospf: {area: 0.0.0.1, passive: [eth2]}`: OSPF on the router's links to other OSPF
    routers and its loopback; interfaces without an OSPF neighbour are passive (their subnets advertised)."""

    area: IPv4Address = IPv4Address("0.0.0.0")
    passive: list[str] = Field([], description="interfaces that send no hellos, besides those without OSPF routers")

    @field_validator("area", mode="before")
    @classmethod
    def _area_number(cls, value: Any) -> Any:
        return IPv4Address(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Announcement(_Strict):
    """A prefix the router originates in BGP, with communities (`65000:666`, `no-export`, ...)."""

    prefix: Prefix
    communities: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"prefix": value} if isinstance(value, str) else value

    @field_validator("communities")
    @classmethod
    def _communities(cls, value: list[str]) -> list[str]:
        for community in value:
            if not re.match(COMMUNITY, community) or ":" in community and max(map(int, community.split(":"))) > 65535:
                raise ValueError(f"'{community}' is not a community: write ASN:VALUE (each 0-65535), or no-export, "
                                 "no-advertise, blackhole, graceful-shutdown")
        return value


class Neighbor(_Strict):
    """An explicit BGP session, to a router of the lab by name (eBGP over their link, iBGP over loopbacks)."""

    node: str
    multihop: bool = Field(False, description="eBGP between loopbacks, not over a shared link")
    remote_as: AsNumber | None = Field(None, description="the AS this router's sessions with it expect, instead of "
                                                         "its asn: misconfigured (an exercise can start broken this way)")


class Bgp(_Strict):
    neighbors: list[Neighbor] = Field([], description="sessions besides those derived from links and the AS")
    ibgp: Literal["full-mesh", "none"] = Field("full-mesh", description="iBGP between the AS's routers")


class RouterRouting(_Strict):
    """The routing keys of a node (routers only; checked in protocols.py)."""

    asn: AsNumber | None = None
    router_id: IPv4Address | None = Field(None, description="default: the router's IPv4 loopback")
    ospf: Ospf | None = None
    announce: list[Announcement] = Field([], description="prefixes originated in BGP besides the router's loopback "
                                                         "and the subnets of its LANs with hosts")
    rov: bool = Field(False, description="drop routes that RPKI origin validation finds invalid")
    bgp: Bgp = Bgp()

    @field_validator("ospf", mode="before")
    @classmethod
    def _ospf_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value


class LinkRouting(_Strict):
    """The routing keys of a link between two routers."""

    relationship: Relationship | None = Field(None, description="what the first endpoint is to the second: "
                                                                "[isp, stub] with provider: isp sells stub transit")
    cost: int | None = Field(None, ge=1, le=65535, description="OSPF cost of both ends")
    bfd: bool = Field(False, description="BFD on this link's BGP sessions and OSPF adjacencies")
    prefix_filter: bool | list[Prefix] = Field(False, description="each provider or peer end accepts from the "
                                               "other only these prefixes (true: what the other's customer cone "
                                               "announces in the topology)")
    prepend: dict[str, int] = Field({}, description="endpoint: how many extra times it puts its AS on what it "
                                                    "announces over this link")

    @field_validator("prepend")
    @classmethod
    def _prepend_counts(cls, value: dict[str, int]) -> dict[str, int]:
        if any(not 1 <= n <= 10 for n in value.values()):
            raise ValueError("a prepend count is 1 to 10")
        return value


class BgpTimers(_Strict):
    keepalive: Duration = 3.0
    hold: Duration = 9.0
    connect_retry: Duration = 1.0
    advertisement_interval: Duration = Field(0.0, description="MRAI; FRR's default for eBGP is 0 since 7.x")


class OspfTimers(_Strict):
    hello: Duration = 1.0
    dead: Duration = 4.0
    spf_delay: Duration = Field(0.05, description="SPF throttle: initial delay")


class BfdTimers(_Strict):
    interval: Duration = 0.1
    multiplier: int = Field(3, ge=2, le=255)


class Roa(_Strict):
    """A Route Origin Authorisation: `asn` may originate `prefix` and its more specifics up to `max_length`."""

    prefix: Prefix
    asn: AsNumber
    max_length: int | None = Field(None, ge=0, le=128)


class Rpki(_Strict):
    validator: str = Field(description="the host that runs stayrtr and serves the ROAs to routers over RTR")
    port: int = Field(3323, ge=1, le=65535)
    roas: list[Roa] = Field(min_length=1)
    refresh: Duration = Field(1.0, description="how often stayrtr reads its ROA file and routers poll it")


class Routing(_Strict):
    """Lab-wide routing defaults (timers are short: a lab converges in seconds, not minutes)."""

    bgp: BgpTimers = BgpTimers()
    ospf: OspfTimers = OspfTimers()
    bfd: BfdTimers = BfdTimers()
