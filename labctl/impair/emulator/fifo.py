"""A pipe's queue: what every discipline shares (`Discipline`: its limits in packets and bytes, and the accounting of
what it holds and drops, in the pipe's counters), and the discipline without AQM, a tail-drop FIFO."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labctl.impair.emulator.model import Counters, Packet


class Discipline(ABC):
    """`enqueue` takes an arriving packet, or drops it or another for want of room; `dequeue` gives the packet the
    link sends next (None: nothing to send), after the drops its AQM decides. Every drop goes to `drops` (the ids)
    and to `counters`, by cause."""

    implementation: str

    def __init__(self, counters: Counters, drops: list[int], limit_packets: float, limit_bytes: float):
        self.counters = counters
        self.drops = drops
        self.limit_packets = limit_packets
        self.limit_bytes = limit_bytes

    @abstractmethod
    def enqueue(self, now: float, packet: Packet) -> bool:
        """Whether `packet`, arriving at `now`, joined the queue."""

    @abstractmethod
    def dequeue(self, now: float) -> Packet | None:
        """The packet the link starts sending at `now`."""

    def held(self, now: float, packet: Packet) -> None:
        """`packet` joins the queue at `now` (its sojourn is measured from here)."""
        packet.arrival = now
        self.counters.queue_packets += 1
        self.counters.queue_bytes += packet.size

    def left(self, packet: Packet) -> None:
        self.counters.queue_packets -= 1
        self.counters.queue_bytes -= packet.size

    def overflowed(self, packet: Packet) -> None:
        """`packet` (not in the queue, or taken out of it) is dropped for want of room."""
        self.counters.overflow += 1
        self.counters.overflow_bytes += packet.size
        self.drops.append(packet.id)

    def aqm_drop(self, packet: Packet) -> None:
        """`packet`, taken out of the queue, is dropped by the AQM."""
        self.counters.aqm += 1
        self.counters.aqm_bytes += packet.size
        self.drops.append(packet.id)


class Fifo(Discipline):
    """First in, first out; an arrival that finds the queue full (in packets or in bytes) is dropped."""

    implementation = "tail-drop FIFO"

    def __init__(self, counters: Counters, drops: list[int], limit_packets: float, limit_bytes: float):
        super().__init__(counters, drops, limit_packets, limit_bytes)
        self.packets: deque[Packet] = deque()

    def enqueue(self, now: float, packet: Packet) -> bool:
        counters = self.counters
        if (counters.queue_packets >= self.limit_packets
                or counters.queue_bytes + packet.size > self.limit_bytes):
            self.overflowed(packet)
            return False
        self.held(now, packet)
        self.packets.append(packet)
        return True

    def pop(self) -> Packet | None:
        """The head of the queue, taken out of it."""
        if not self.packets:
            return None
        packet = self.packets.popleft()
        self.left(packet)
        return packet

    def dequeue(self, now: float) -> Packet | None:
        return self.pop()
