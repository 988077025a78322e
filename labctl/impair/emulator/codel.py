"""CoDel (RFC 8289): a queue's AQM, at dequeue. Once packets have waited longer than `target` (their sojourn, from
enqueue to dequeue) for at least `interval`, it drops the head and enters its dropping state, in which it drops again
at drop_next = t + interval / sqrt(count), each drop one more in `count`, until a sojourn is below target. Entering
the dropping state again soon (16 intervals) after leaving it, it starts from the count of drops the last cycle
made (the Linux variant the RFC's pseudocode gives). It never drops while the queue holds at most one MTU."""
from __future__ import annotations

from math import sqrt
from typing import TYPE_CHECKING, Protocol

from labctl.impair.emulator.fifo import Fifo

if TYPE_CHECKING:
    from labctl.impair.emulator.model import Counters, Packet

MTU = 1514                     # bytes: an Ethernet frame of 1500 bytes, as Linux's codel counts it (psched_mtu)


class CodelQueue(Protocol):
    """The queue CoDel manages: the head taken out (None when empty), and a packet taken out reported dropped."""

    def pop(self) -> Packet | None: ...

    def aqm_drop(self, packet: Packet) -> None: ...


class CoDel:
    """The state of one CoDel control loop (RFC 8289, section 5's pseudocode). The one-MTU test reads the backlog of
    the whole pipe, `counters.queue_bytes`: for a FIFO its queue, for FQ-CoDel all its flow queues, as in Linux."""

    __slots__ = ("counters", "target", "interval", "first_above", "drop_next", "count", "lastcount", "dropping")

    def __init__(self, counters: Counters, target: float, interval: float):
        self.counters = counters
        self.target = target
        self.interval = interval
        self.first_above: float | None = None   # when the sojourn, above target since, will have been so an interval
        self.drop_next = 0.0
        self.count = 0
        self.lastcount = 0
        self.dropping = False

    def _dodequeue(self, now: float, queue: CodelQueue) -> tuple[Packet | None, bool]:
        """The head, and whether it may be dropped: its sojourn has been above target for an interval."""
        packet = queue.pop()
        if packet is None or now - packet.arrival < self.target or self.counters.queue_bytes <= MTU:
            self.first_above = None
            return packet, False
        if self.first_above is None:
            self.first_above = now + self.interval
            return packet, False
        return packet, now >= self.first_above

    def dequeue(self, now: float, queue: CodelQueue) -> Packet | None:
        """The packet to send at `now`, after the drops the control law asks for."""
        packet, ok_to_drop = self._dodequeue(now, queue)
        if self.dropping:
            self.dropping = ok_to_drop
            while self.dropping and now >= self.drop_next:
                queue.aqm_drop(packet)          # ok_to_drop: there is one
                self.count += 1
                packet, self.dropping = self._dodequeue(now, queue)
                if self.dropping:
                    self.drop_next += self.interval / sqrt(self.count)
        elif ok_to_drop:
            queue.aqm_drop(packet)
            packet, _ = self._dodequeue(now, queue)
            self.dropping = True
            delta = self.count - self.lastcount
            self.count = delta if delta > 1 and now - self.drop_next < 16 * self.interval else 1
            self.drop_next = now + self.interval / sqrt(self.count)
            self.lastcount = self.count
        return packet


class CodelFifo(Fifo):
    """A FIFO managed by CoDel; an arrival that finds it full is dropped (tail drop), as in Linux's codel qdisc."""

    implementation = "CoDel (RFC 8289)"

    def __init__(self, counters: Counters, drops: list[int], limit_packets: float, limit_bytes: float,
                 target: float, interval: float):
        super().__init__(counters, drops, limit_packets, limit_bytes)
        self.codel = CoDel(counters, target, interval)

    def dequeue(self, now: float) -> Packet | None:
        return self.codel.dequeue(now, self)
