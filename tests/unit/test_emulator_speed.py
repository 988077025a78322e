"""How many packets per second the emulator's pipe decides in one Python process (enqueue and every advance, through
`simulate`, which also records each verdict): it must keep up with the 20,000 - 40,000 packets per second of a busy
lab, next to the work of the NFQUEUE loop. Its figures (packets/s) are in the assertion's message."""
from __future__ import annotations

import random
import time

from labctl.impair.emulator import Packet, Pipe, simulate
from labctl.plan import Shaping

PACKETS = 100_000
RATE = 300_000_000              # 25,000 packets of 1500 bytes a second


def packets_per_second(shaping: Shaping, flows: int, load: float) -> float:
    rng = random.Random(1)
    arrivals, now = [], 0.0
    for i in range(PACKETS):
        now += rng.expovariate(load * RATE / 8 / 1500)
        arrivals.append((now, Packet(i, rng.choice((64, 576, 1500, 1500, 1500)), (6, i % flows, 80))))
    link = Pipe(shaping, random.Random(2))
    started = time.perf_counter()
    trace = simulate(link, arrivals)
    elapsed = time.perf_counter() - started
    assert len(trace.released) + len(trace.dropped) == PACKETS
    return PACKETS / elapsed


def test_fast_enough_for_a_busy_lab():
    fifo = packets_per_second(Shaping(rate_bps=RATE, delay_ms=20, jitter_ms=2), flows=1, load=0.9)
    fq = packets_per_second(Shaping(rate_bps=RATE, delay_ms=20, aqm="fq_codel"), flows=100, load=1.2)
    figures = f"FIFO with rate and delay: {fifo:,.0f} packets/s; FQ-CoDel, 100 flows: {fq:,.0f} packets/s"
    assert min(fifo, fq) > 40_000, figures
