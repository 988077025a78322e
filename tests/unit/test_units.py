"""Focused tests of the small pieces: unit parsing, prefix sizing, and shortest-path static routes."""
from __future__ import annotations

import pytest

from labctl.topology.addressing import lan_prefix
from labctl.topology.routing import Attachment, Segment, compute_routes
from labctl.topology.schema import parse_duration_ms, parse_percent, parse_rate


@pytest.mark.parametrize("parse, value, expected", [
    (parse_rate, "10mbit", 10_000_000),
    (parse_rate, "1gbit", 1_000_000_000),
    (parse_rate, "500kbit", 500_000),
    (parse_rate, "1.5 Mbit", 1_500_000),
    (parse_rate, "1mbps", 8_000_000),       # bytes per second, as tc writes it
    (parse_rate, 100, 100_000_000),         # a bare number is Mbit/s
    (parse_duration_ms, "5ms", 5.0),
    (parse_duration_ms, "1s", 1000.0),
    (parse_duration_ms, "250us", 0.25),
    (parse_duration_ms, 20, 20.0),          # a bare number is ms
    (parse_percent, "1.5%", 1.5),
    (parse_percent, 100, 100.0),
    (parse_percent, "0", 0.0),
])
def test_parse(parse, value, expected) -> None:
    assert parse(value) == expected


@pytest.mark.parametrize("parse, value", [
    (parse_rate, "fast"), (parse_rate, "10 furlongs"), (parse_rate, True), (parse_rate, "-1mbit"),
    (parse_duration_ms, "5 min"), (parse_duration_ms, "-5ms"),
    (parse_percent, "150%"), (parse_percent, 101), (parse_percent, "5ms"),
])
def test_parse_rejects(parse, value) -> None:
    with pytest.raises(ValueError):
        parse(value)


@pytest.mark.parametrize("members, expected", [(2, 24), (254, 24), (255, 23), (510, 23), (511, 22)])
def test_lan_prefix_grows_to_fit(members: int, expected: int) -> None:
    assert lan_prefix(24, members) == expected


def _p2p(subnet: str, a: str, b: str) -> Segment:
    """A link a-b; `subnet` is "10.0.N." and a gets .1, b .2 (each on interface to-<peer>)."""
    return Segment(f"{subnet}0/30", [Attachment(a, f"to-{b}", f"{subnet}1"), Attachment(b, f"to-{a}", f"{subnet}2")])


def _loopback(router: str, address: str) -> Segment:
    return Segment(f"{address}/32", [Attachment(router, "lo", None)])


def _routes(routes: dict, router: str) -> dict[str, tuple[str, str]]:
    return {r.dst: (r.via, r.dev) for r in routes[router]}


def test_line_of_four_routes_one_step_closer() -> None:
    segments = [_p2p("10.0.1.", "r1", "r2"), _p2p("10.0.2.", "r2", "r3"), _p2p("10.0.3.", "r3", "r4"),
                _loopback("r4", "10.254.0.4")]
    routes = compute_routes(["r1", "r2", "r3", "r4"], segments)
    assert _routes(routes, "r1") == {"10.0.2.0/30": ("10.0.1.2", "to-r2"), "10.0.3.0/30": ("10.0.1.2", "to-r2"),
                                     "10.254.0.4/32": ("10.0.1.2", "to-r2")}
    assert _routes(routes, "r2") == {"10.0.3.0/30": ("10.0.2.2", "to-r3"), "10.254.0.4/32": ("10.0.2.2", "to-r3")}
    assert _routes(routes, "r3") == {"10.0.1.0/30": ("10.0.2.1", "to-r2"), "10.254.0.4/32": ("10.0.3.2", "to-r4")}
    assert _routes(routes, "r4") == {"10.0.1.0/30": ("10.0.3.1", "to-r3"), "10.0.2.0/30": ("10.0.3.1", "to-r3")}
    assert {r.metric for rs in routes.values() for r in rs} == {20} and \
        {r.source for rs in routes.values() for r in rs} == {"computed"}


# A square r1-r2-r4-r3-r1: r1 reaches r4 equally well through r2 or r3; the router declared first wins,
# whatever the order of the links.
@pytest.mark.parametrize("routers, via", [(["r1", "r2", "r3", "r4"], ("10.0.1.2", "to-r2")),
                                          (["r1", "r3", "r2", "r4"], ("10.0.4.2", "to-r3"))])
@pytest.mark.parametrize("reverse_links", [False, True])
def test_square_tie_goes_to_router_declared_first(routers: list[str], via: tuple, reverse_links: bool) -> None:
    segments = [_p2p("10.0.1.", "r1", "r2"), _p2p("10.0.2.", "r2", "r4"), _p2p("10.0.3.", "r4", "r3"),
                _p2p("10.0.4.", "r1", "r3"), _loopback("r4", "10.254.0.4")]
    if reverse_links:
        segments.reverse()
    routes = compute_routes(routers, segments)
    assert _routes(routes, "r1")["10.254.0.4/32"] == via
    assert "10.0.2.0/30" in _routes(routes, "r1") and "10.0.1.0/30" not in _routes(routes, "r1")   # only off-link


def test_hosts_do_not_forward() -> None:
    """A host between two routers is not a path: r2 gets no route to r1's side through h1."""
    segments = [_p2p("10.0.1.", "r1", "h1"), _p2p("10.0.2.", "h1", "r2"), _loopback("r1", "10.254.0.1")]
    routes = compute_routes(["r1", "r2"], segments)
    assert routes == {"r1": [], "r2": []}
