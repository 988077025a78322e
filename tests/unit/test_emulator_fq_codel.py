"""The emulator's FQ-CoDel (RFC 8290) on simulated arrivals: a sparse flow beside a bulk one passes with almost no
queueing while CoDel manages the bulk flow's queue; bulk flows share the rate equally in bytes (DRR), whatever their
packet sizes; the shared limit drops from the head of the flow queue holding the most bytes."""
from __future__ import annotations

import random
import statistics
from operator import itemgetter

import pytest

from labctl.impair.emulator import Packet, Pipe, simulate
from labctl.plan import Shaping

RATE = 10_000_000


def fq_codel(**shaping) -> Pipe:
    return Pipe(Shaping(aqm="fq_codel", **shaping), random.Random(9))


def flow(name: str, first_id: int, size: int, gap: float, seconds: float) -> list[tuple[float, Packet]]:
    return [(i * gap, Packet(first_id + i, size, name)) for i in range(round(seconds / gap))]


def merged(*flows: list[tuple[float, Packet]]) -> list[tuple[float, Packet]]:
    return sorted((arrival for f in flows for arrival in f), key=itemgetter(0))


def delays(trace, arrivals: list[tuple[float, Packet]], after: float = 0.0) -> list[float]:
    return [trace.released[p.id] - t for t, p in arrivals if t >= after and p.id in trace.released]


def test_a_sparse_flow_beside_a_bulk_one_sees_almost_no_queue():
    bulk = flow("bulk", 0, 1500, 1500 * 8 / RATE / 1.1, 20.0)        # 1.1 times the rate, unresponsive
    sparse = flow("sparse", 10**6, 200, 0.02, 20.0)
    link = fq_codel(rate_bps=RATE)
    trace = simulate(link, merged(bulk, sparse))
    assert link.implementation == "labctl emulator: FQ-CoDel (RFC 8290)"
    assert max(delays(trace, sparse, after=1.0)) < 0.0012 + 0.00016 + 1e-9   # the bulk packet on the link, then its own
    assert all(i < 10**6 for i in trace.dropped)                    # only the bulk flow is dropped from
    bulk_delays = delays(trace, bulk, after=10.0)
    assert link.counters.aqm > 0 and link.counters.overflow == 0
    assert max(bulk_delays) < 0.05                                  # CoDel holds it (about 24 ms here)
    tail_drop = simulate(Pipe(Shaping(rate_bps=RATE), random.Random(9)), bulk)
    assert min(delays(tail_drop, bulk, after=15.0)) > 1.1            # full by then: 1000 packets of 1.2 ms

    plain = Pipe(Shaping(rate_bps=RATE, aqm="codel"), random.Random(9))   # one queue for both: the sparse flow waits
    trace = simulate(plain, merged(bulk, sparse))
    assert statistics.median(delays(trace, sparse, after=10.0)) > 0.02


def test_two_bulk_flows_share_the_rate_equally_in_bytes():
    big = flow("big", 0, 1500, 1500 * 8 / RATE, 5.0)                 # each offers the whole rate
    small = flow("small", 10**6, 500, 500 * 8 / RATE, 5.0)
    trace = simulate(fq_codel(rate_bps=RATE), merged(big, small), until=5.0)
    sent = {name: sum(p.size for t, p in arrivals if p.id in trace.released)
            for name, arrivals in (("big", big), ("small", small))}
    assert sent["big"] == pytest.approx(sent["small"], rel=0.02)
    assert (sent["big"] + sent["small"]) * 8 == pytest.approx(RATE * 5, rel=0.01)


def test_overflow_drops_from_the_head_of_the_fattest_flow():
    link = fq_codel(rate_bps=1000, queue_packets=20)                # nothing leaves during the test
    accepted = [link.enqueue(0.0, Packet(i, 1500, "fat")) for i in range(9)]          # 0 on the link, 8 wait
    accepted += [link.enqueue(0.001, Packet(i, 100, "many")) for i in range(100, 112)]  # 12 small ones: 20 wait
    accepted += [link.enqueue(0.002, Packet(i, 100, "new")) for i in range(200, 203)]
    assert accepted == [True] * 24                                  # the arrivals stay; "fat" pays
    assert link.take_drops() == [1, 2, 3] and link.counters.overflow == 3
    assert link.counters.queue_packets == link.counters.max_queue_packets == 20

    link = fq_codel(rate_bps=1000, queue_bytes=3000)
    assert link.enqueue(0.0, Packet(1, 100, "a")) and link.enqueue(0.0, Packet(2, 1000, "a"))
    assert not link.enqueue(0.001, Packet(3, 2500, "b"))            # its own queue is the fattest: it goes
    assert link.take_drops() == [3]
