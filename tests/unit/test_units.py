"""Focused tests of the small pieces: unit parsing, prefix sizing, and shortest-path static routes."""
from __future__ import annotations

import pytest

from labctl.topology.addressing import lan_prefix
from labctl.topology.routing import Attachment, Segment, compute_routes
from labctl.units import format_duration, format_rate, parse_duration, parse_percent, parse_rate


@pytest.mark.parametrize("parse, value, expected", [
    (parse_rate, "10mbit", 10_000_000),
    (parse_rate, "1gbit", 1_000_000_000),
    (parse_rate, "500kbit", 500_000),
    (parse_rate, "1.5 Mbit", 1_500_000),
    (parse_rate, "64bit", 64),
    (parse_duration, "5ms", 0.005),
    (parse_duration, "1s", 1.0),
    (parse_duration, "250us", 0.00025),
    (parse_duration, "2m", 120.0),
    (parse_duration, "0ms", 0.0),
    (parse_percent, "1.5%", 1.5),
    (parse_percent, 100, 100.0),
    (parse_percent, "0", 0.0),
])
def test_parse(parse, value, expected) -> None:
    assert parse(value) == pytest.approx(expected)


@pytest.mark.parametrize("parse, value, message", [
    (parse_rate, "fast", "expected a rate, e.g. 10mbit; units: bit, kbit, mbit, gbit"),
    (parse_rate, "10 furlongs", "expected a rate"),
    (parse_rate, True, "expected a rate with a unit"),
    (parse_rate, "-1mbit", "expected a rate"),
    (parse_rate, 100, "a rate needs a unit, e.g. 10mbit"),        # no bare numbers: Mbit/s? bit/s?
    (parse_rate, "20", "a rate needs a unit"),
    (parse_rate, "10mbps", "ambiguous"),                           # megabytes to tc, megabits to most readers
    (parse_rate, "20M", "expected a rate"),
    (parse_duration, 20, "a duration needs a unit, e.g. 20ms; units: us, ms, s, m, min, h"),   # ms? s?
    (parse_duration, "5 fortnights", "expected a duration"),
    (parse_duration, "-5ms", "expected a duration"),
    (parse_percent, "150%", "between 0 and 100"),
    (parse_percent, 101, "between 0 and 100"),
    (parse_percent, "5ms", "expected a percentage"),
])
def test_parse_rejects(parse, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse(value)


@pytest.mark.parametrize("value, shown", [(1.5, "1.5 s"), (0.02, "20 ms"), (0.00025, "250 us"), (0, "0 s")])
def test_format_duration(value, shown) -> None:
    assert format_duration(value) == shown


@pytest.mark.parametrize("value, shown", [(10**7, "10 Mbit/s"), (1.5e9, "1.5 Gbit/s"), (64_000, "64 kbit/s"),
                                          (12, "12 bit/s")])
def test_format_rate(value, shown) -> None:
    assert format_rate(value) == shown


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
