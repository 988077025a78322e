"""The emulator's pipe against the physics of a link, on simulated arrivals: serialisation at the rate, a queue that
tail-drops beyond its limit and delays by buffer / rate when saturated, a delay line that keeps order without jitter
and spreads (and reorders) as configured with it."""
from __future__ import annotations

import random
import statistics

import pytest

from labctl.impair.emulator import Packet, Pipe, simulate
from labctl.plan import Shaping


def pipe(**shaping) -> Pipe:
    return Pipe(Shaping(**shaping), random.Random(7))


def evenly(count: int, gap: float, size: int = 1500, start: float = 0.0) -> list[tuple[float, Packet]]:
    return [(start + i * gap, Packet(i, size, 0)) for i in range(count)]


def test_back_to_back_packets_leave_one_serialisation_time_apart_and_at_the_rate():
    link = pipe(rate_bps=10_000_000)
    times = list(simulate(link, evenly(100, 0.0)).released.values())
    assert times[0] == pytest.approx(0.0012)
    assert [b - a for a, b in zip(times, times[1:])] == pytest.approx([0.0012] * 99, abs=1e-9)

    link = pipe(rate_bps=10_000_000)                     # twice the rate offered for a second
    trace = simulate(link, evenly(3334, 0.0006))
    sent = sum(1500 * 8 for t in trace.released.values() if t <= 1.0)
    assert sent == pytest.approx(10_000_000, rel=0.01)
    assert link.implementation == "labctl emulator: tail-drop FIFO"


def test_the_queue_tail_drops_beyond_its_limit_in_packets_and_in_bytes():
    link = pipe(rate_bps=1_000_000, queue_packets=10)
    accepted = [link.enqueue(0.0, packet) for _, packet in evenly(30, 0.0)]
    assert accepted == [True] * 11 + [False] * 19         # one on the link, ten waiting
    assert link.take_drops() == list(range(11, 30)) and link.take_drops() == []
    assert (link.counters.overflow, link.counters.max_queue_packets, link.counters.queue_packets) == (19, 10, 10)

    link = pipe(rate_bps=1_000_000, queue_bytes=10_000)
    accepted = [link.enqueue(0.0, Packet(i, 1500)) for i in range(8)] + [link.enqueue(0.0, Packet(8, 1000))]
    assert accepted == [True] * 7 + [False, True]         # 6 x 1500 wait; a 7th would make 10,500, 1000 more fit
    assert link.take_drops() == [7] and link.counters.queue_bytes == 10_000


def test_default_queue_is_1000_packets():
    link = pipe(rate_bps=1_000_000)
    for _, packet in evenly(1100, 0.0):
        link.enqueue(0.0, packet)
    assert (link.counters.queue_packets, link.counters.overflow) == (1000, 99)


def test_a_saturated_bottleneck_delays_by_buffer_over_rate():
    link = pipe(rate_bps=1_500_000, queue_packets=100)    # 100 x 1500 bytes at 1.5 Mbit/s: 0.8 s
    arrivals = evenly(2500, 0.004)                        # twice the rate, for 10 s
    trace = simulate(link, arrivals)
    waits = [trace.released[p.id] - 0.008 - t for t, p in arrivals if t > 5 and p.id in trace.released]
    assert len(waits) > 500 and 0.796 - 1e-9 < min(waits) and max(waits) < 0.8 + 1e-9
    assert link.counters.max_queue_packets == 100 and link.counters.overflow == len(trace.dropped) > 1000


def test_released_exactly_delay_after_leaving_the_link_and_in_order():
    rng = random.Random(3)
    arrivals, now = [], 0.0
    for i in range(5000):
        now += rng.expovariate(1000)
        arrivals.append((now, Packet(i, rng.randint(64, 1500))))
    trace = simulate(pipe(delay_ms=20), arrivals)
    assert [trace.released[p.id] - t for t, p in arrivals] == pytest.approx([0.02] * 5000, abs=1e-12)

    link = pipe(rate_bps=10_000_000, delay_ms=20)         # queueing at times: 1000/s of 782 bytes on average
    trace = simulate(link, arrivals)
    assert list(trace.released) == [p.id for _, p in arrivals]          # released in the order they came
    spaced = simulate(pipe(rate_bps=10_000_000, delay_ms=20), evenly(10, 0.01))
    assert list(spaced.released.values()) == pytest.approx([0.01 * i + 0.0012 + 0.02 for i in range(10)])


def test_jitter_spreads_uniformly_as_configured_and_reorders():
    arrivals = evenly(20_000, 0.001)
    trace = simulate(pipe(delay_ms=50, jitter_ms=10), arrivals)
    extra = [trace.released[p.id] - t - 0.05 for t, p in arrivals]
    assert -0.01 <= min(extra) < -0.0099 and 0.0099 < max(extra) <= 0.01
    assert statistics.mean(extra) == pytest.approx(0, abs=2e-4)
    assert statistics.pstdev(extra) == pytest.approx(0.01 / 3 ** 0.5, rel=0.03)    # uniform in [-10 ms, 10 ms]
    order = list(trace.released)
    assert sum(a > b for a, b in zip(order, order[1:])) > 1000                       # reordered, as netem does

    trace = simulate(pipe(delay_ms=2, jitter_ms=10), arrivals)
    extra = [trace.released[p.id] - t for t, p in arrivals]
    assert min(extra) == 0 and max(extra) <= 0.012         # never below zero delay


def test_next_time_says_what_is_due():
    link = pipe(rate_bps=10_000_000, delay_ms=10)
    assert link.next_time() is None
    link.enqueue(1.0, Packet(1, 1500))
    link.enqueue(1.0, Packet(2, 1500))
    assert link.next_time() == pytest.approx(1.0012)      # the link free for packet 2
    assert link.advance(1.0012) == []
    assert link.next_time() == pytest.approx(1.0112)      # packet 1's release
    assert link.advance(1.05) == [1, 2] and link.next_time() is None
    assert (link.counters.released, link.counters.released_bytes) == (2, 3000)


def test_red_is_refused():
    with pytest.raises(ValueError, match="'red'"):
        pipe(aqm="red")
