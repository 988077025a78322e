"""One direction of an emulated link, a `Pipe`, in dummynet's manner: an arriving packet may be lost, else it waits
in a queue (tail drop, CoDel or FQ-CoDel), leaves it when the link is free, takes size*8/rate seconds on the link,
then delay ± jitter more on the line, and is released. Time is passed in (seconds, any origin, never going back), so
the same code runs on the kernel's packets and on simulated ones.

A packet is dequeued when the link turns free (an arrival on an idle link: at once), so its sojourn, which CoDel
measures, runs from its arrival to the start of its serialisation; the packet on the link is no longer in the queue.
Jitter is uniform in [-jitter, +jitter]: netem's own default (it draws from a table only when given `distribution`,
which labctl's kernel back end never gives), so both back ends spread packets alike, and never beyond the figure
given. The delay it makes is never below zero. Without jitter the packets leave in the order they came; with it they
may be reordered, as in netem."""
from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from heapq import heappop, heappush
from math import inf

from labctl.impair.emulator.codel import CodelFifo
from labctl.impair.emulator.fifo import Discipline, Fifo
from labctl.impair.emulator.fq_codel import FqCodel
from labctl.impair.emulator.loss import loss_model
from labctl.plan import Shaping

DEFAULT_QUEUE_PACKETS = 1000    # neither queue_packets nor queue_bytes: a veth's txqueuelen, netem's default limit
CODEL_TARGET_MS = 5.0
CODEL_INTERVAL_MS = 100.0


@dataclass(slots=True, eq=False)
class Packet:
    """A packet held in the kernel: its id (for the verdict), its wire length in bytes, and its flow (anything
    hashable, e.g. the 5-tuple) for FQ-CoDel. `arrival` is set by the pipe when it joins the queue."""

    id: int
    size: int
    flow: Hashable = None
    arrival: float = field(default=0.0, init=False, repr=False)


@dataclass(slots=True)
class Counters:
    """What a pipe has seen, in packets and bytes: arrived, released, and dropped by cause (lost at the entrance,
    overflow of the queue, AQM); the queue's current length and its maximum."""

    arrived: int = 0
    arrived_bytes: int = 0
    released: int = 0
    released_bytes: int = 0
    lost: int = 0
    lost_bytes: int = 0
    overflow: int = 0
    overflow_bytes: int = 0
    aqm: int = 0
    aqm_bytes: int = 0
    queue_packets: int = 0
    queue_bytes: int = 0
    max_queue_packets: int = 0
    max_queue_bytes: int = 0


def _discipline(shaping: Shaping, counters: Counters, drops: list[int], rng: random.Random) -> Discipline:
    limit_packets = shaping.queue_packets or (inf if shaping.queue_bytes else DEFAULT_QUEUE_PACKETS)
    limit_bytes = shaping.queue_bytes or inf
    target = (shaping.aqm_target_ms or CODEL_TARGET_MS) / 1000
    interval = (shaping.aqm_interval_ms or CODEL_INTERVAL_MS) / 1000
    aqm = shaping.aqm or "none"
    if aqm == "none":
        return Fifo(counters, drops, limit_packets, limit_bytes)
    if aqm == "codel":
        return CodelFifo(counters, drops, limit_packets, limit_bytes, target, interval)
    if aqm == "fq_codel":
        return FqCodel(counters, drops, limit_packets, limit_bytes, target, interval, rng.getrandbits(64))
    raise ValueError(f"the link emulator has no AQM {aqm!r}: it has none (tail drop), codel and fq_codel")


class Pipe:
    """One link direction. Feed it arrivals with `enqueue`, call `advance` at `next_time` (or later) for the ids
    to release, and `take_drops` for those to drop. `counters` and `implementation` (what decides, by name) are for
    reports."""

    def __init__(self, shaping: Shaping, rng: random.Random):
        self.counters = Counters()
        self._drops: list[int] = []
        self._queue = _discipline(shaping, self.counters, self._drops, rng)
        self.implementation = f"labctl emulator: {self._queue.implementation}"
        self._loss = loss_model(shaping, rng)
        self._seconds_per_byte = 8 / shaping.rate_bps if shaping.rate_bps else 0.0
        self._delay = (shaping.delay_ms or 0) / 1000
        self._jitter = (shaping.jitter_ms or 0) / 1000
        self._uniform = rng.uniform
        self._free_at = -inf                            # when the link has sent the packet it is sending
        self._line: list[tuple[float, int, Packet]] = []  # the delay line: (release time, sequence, packet)
        self._sequence = 0

    def enqueue(self, now: float, packet: Packet) -> bool:
        """`packet` arrives at `now`; whether it joined the queue (lost, or dropped for want of room: not).
        What it makes the queue drop, it or others, `take_drops` says."""
        counters = self.counters
        counters.arrived += 1
        counters.arrived_bytes += packet.size
        if self._loss is not None and self._loss():
            counters.lost += 1
            counters.lost_bytes += packet.size
            self._drops.append(packet.id)
            return False
        if counters.queue_packets:
            self._serve(now)                            # the dequeues due before this arrival
        if not counters.queue_packets and self._free_at < now:
            self._free_at = now                         # the link was idle: it starts on this packet
        accepted = self._queue.enqueue(now, packet)
        if counters.queue_packets > counters.max_queue_packets:
            counters.max_queue_packets = counters.queue_packets
        if counters.queue_bytes > counters.max_queue_bytes:
            counters.max_queue_bytes = counters.queue_bytes
        if self._free_at <= now:
            self._serve(now)
        return accepted

    def next_time(self) -> float | None:
        """When something is due next: the link free for the next packet of the queue, or a release."""
        release = self._line[0][0] if self._line else None
        if self.counters.queue_packets and (release is None or self._free_at < release):
            return self._free_at
        return release

    def advance(self, now: float) -> list[int]:
        """Do what is due by `now`, in time order; the ids of the packets released, in the order they leave."""
        self._serve(now)
        line, released, counters = self._line, [], self.counters
        while line and line[0][0] <= now:
            packet = heappop(line)[2]
            released.append(packet.id)
            counters.released += 1
            counters.released_bytes += packet.size
        return released

    def take_drops(self) -> list[int]:
        """The ids dropped since the last call: lost, overflowed, dropped by the AQM."""
        drops = self._drops[:]
        self._drops.clear()
        return drops

    def _serve(self, now: float) -> None:
        """Each time the link is free by `now` and the queue holds packets, the next one goes on the link and then
        onto the delay line."""
        counters, queue, line = self.counters, self._queue, self._line
        while counters.queue_packets and self._free_at <= now:
            start = self._free_at
            packet = queue.dequeue(start)
            if packet is None:                          # the AQM dropped what was left
                return
            self._free_at = sent = start + packet.size * self._seconds_per_byte
            delay = self._delay
            if self._jitter:
                delay = max(0.0, delay + self._uniform(-self._jitter, self._jitter))
            heappush(line, (sent + delay, self._sequence, packet))
            self._sequence += 1
