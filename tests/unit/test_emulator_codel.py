"""The emulator's CoDel (RFC 8289) on simulated arrivals: a queue standing above target for an interval is dropped
from, ever faster (intervals between drops shrinking as 1/sqrt(count)), resuming its count when the queue comes back
soon; short bursts below target, or above it for less than an interval, and a queue of one MTU, are never dropped."""
from __future__ import annotations

import random

import pytest

from labctl.impair.emulator import Packet, Pipe, simulate
from labctl.plan import Shaping

TX = 0.0012                      # 1500 bytes at 10 Mbit/s


def codel(rate_bps: int = 10_000_000, **shaping) -> Pipe:
    return Pipe(Shaping(rate_bps=rate_bps, aqm="codel", queue_packets=100_000, **shaping), random.Random(5))


def flood(start: float, seconds: float, first_id: int = 0) -> list[tuple[float, Packet]]:
    """1500-byte packets at twice 10 Mbit/s."""
    return [(start + i * TX / 2, Packet(first_id + i, 1500)) for i in range(round(seconds / (TX / 2)))]


def aqm_drops(trace) -> list[float]:
    return sorted(trace.dropped.values())


def test_a_standing_queue_is_dropped_from_at_the_control_law():
    link = codel()
    arrivals = flood(0.0, 2.0)
    trace = simulate(link, arrivals)
    assert link.implementation == "labctl emulator: CoDel (RFC 8289)"
    assert link.counters.aqm == len(trace.dropped) > 0 and link.counters.overflow == 0
    above = min(trace.released[p.id] - TX for t, p in arrivals
                if p.id in trace.released and trace.released[p.id] - TX - t > 0.005)
    drops = aqm_drops(trace)
    assert above + 0.1 <= drops[0] <= above + 0.1 + TX        # target exceeded for an interval: the first drop
    gaps = [b - a for a, b in zip(drops, drops[1:])]
    assert gaps[:40] == pytest.approx([0.1 / (count ** 0.5) for count in range(1, 41)], abs=TX + 1e-9)


def test_the_count_is_reused_when_the_queue_comes_back_soon():
    def first_gap_of_second_episode(pause: float) -> float:
        first = flood(0.0, 1.0)
        trace = simulate(codel(), first + flood(2.0 + pause, 1.0, len(first)))
        drops = [t for t in aqm_drops(trace) if t > 2.0 + pause]
        return drops[1] - drops[0]

    assert first_gap_of_second_episode(0.0) < 0.03              # about 0.1 / sqrt(count of the last cycle)
    assert first_gap_of_second_episode(2.0) == pytest.approx(0.1, abs=TX)   # > 16 intervals later: count 1


def test_no_drops_while_the_sojourn_is_below_target_or_above_it_less_than_an_interval():
    for burst, max_sojourn in ((5, 0.0048), (8, 0.0084)):       # every 10 ms: 6 ms, then 9.6 ms of sending
        link = codel()
        arrivals = [(k * 0.01, Packet(k * burst + i, 1500)) for k in range(1000) for i in range(burst)]
        trace = simulate(link, arrivals)
        sojourns = [trace.released[p.id] - TX - t for t, p in arrivals]
        assert max(sojourns) == pytest.approx(max_sojourn) and link.counters.max_queue_bytes > 1514
        assert trace.dropped == {} and link.counters.aqm == 0


def test_a_queue_of_one_mtu_is_never_dropped_from():
    def drops(backlog: int) -> int:
        """`backlog` packets at 0, then one every 120 ms (the link's rate) in between the dequeues."""
        link = codel(rate_bps=100_000)                            # 1500 bytes: 120 ms
        arrivals = [(0.0, Packet(i, 1500)) for i in range(backlog)]
        arrivals += [(0.06 + 0.12 * k, Packet(backlog + k, 1500)) for k in range(1, 200)]
        trace = simulate(link, arrivals)
        assert min(trace.released[i] - 0.12 for i in range(backlog + 10, backlog + 190)) > 0.1   # waits > target
        return link.counters.aqm

    assert drops(3) == 0                                          # one packet waits when one leaves: 1500 bytes
    assert drops(4) > 0                                           # two: 3000 bytes, more than an MTU


def test_target_and_interval_are_configurable():
    link = codel(aqm_target_ms=20, aqm_interval_ms=50)
    trace = simulate(link, flood(0.0, 1.0))
    drops = aqm_drops(trace)
    assert 0.04 + 0.05 <= drops[0] <= 0.04 + 0.05 + 2 * TX       # sojourn t/2 passes 20 ms at 40 ms; then 50 ms
    assert drops[1] - drops[0] == pytest.approx(0.05, abs=TX)
