"""FQ-CoDel (RFC 8290): packets are spread over 1024 flow queues by a salted hash of their flow, and the link serves
the queues by deficit round robin (a quantum of 1514 bytes a round), new flows (those that had no packets) before old
ones, each flow queue managed by its own CoDel. The limits in packets and bytes are shared: when the queues together
exceed one, packets are dropped from the head of the flow queue holding the most bytes (one at a time, as the RFC
says; Linux drops a batch of them, up to half that queue)."""
from __future__ import annotations

from collections import deque
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING

from labctl.impair.emulator.codel import CoDel
from labctl.impair.emulator.fifo import Discipline

if TYPE_CHECKING:
    from labctl.impair.emulator.model import Counters, Packet

FLOWS = 1024
QUANTUM = 1514                 # bytes a flow may send a round: one full frame, as Linux's default


class FlowQueue:
    """One flow queue: its packets, its bytes, its DRR deficit, whether it is on the new or old list, its CoDel."""

    __slots__ = ("owner", "codel", "packets", "bytes", "deficit", "listed")

    def __init__(self, owner: Discipline, codel: CoDel):
        self.owner = owner
        self.codel = codel
        self.packets: deque[Packet] = deque()
        self.bytes = 0
        self.deficit = 0
        self.listed = False

    def pop(self) -> Packet | None:
        if not self.packets:
            return None
        packet = self.packets.popleft()
        self.bytes -= packet.size
        self.owner.left(packet)
        return packet

    def aqm_drop(self, packet: Packet) -> None:
        self.owner.aqm_drop(packet)


_backlog = attrgetter("bytes")


class FqCodel(Discipline):
    implementation = "FQ-CoDel (RFC 8290)"

    def __init__(self, counters: Counters, drops: list[int], limit_packets: float, limit_bytes: float,
                 target: float, interval: float, salt: int):
        super().__init__(counters, drops, limit_packets, limit_bytes)
        self.flows = [FlowQueue(self, CoDel(counters, target, interval)) for _ in range(FLOWS)]
        self.new: deque[FlowQueue] = deque()
        self.old: deque[FlowQueue] = deque()
        self.salt = salt

    def enqueue(self, now: float, packet: Packet) -> bool:
        flow = self.flows[hash((self.salt, packet.flow)) % FLOWS]
        self.held(now, packet)
        flow.packets.append(packet)
        flow.bytes += packet.size
        if not flow.listed:
            flow.listed = True
            flow.deficit = QUANTUM
            self.new.append(flow)
        counters, accepted = self.counters, True
        while counters.queue_packets > self.limit_packets or counters.queue_bytes > self.limit_bytes:
            dropped = max(chain(self.new, self.old), key=_backlog).pop()
            self.overflowed(dropped)        # the fattest queue holds a packet: not None
            accepted = accepted and dropped is not packet
        return accepted

    def dequeue(self, now: float) -> Packet | None:
        """RFC 8290 section 4.2 (as Linux's fq_codel_dequeue): the first flow of the new list, else of the old; one
        whose deficit is spent gets a quantum more and goes to the old list's tail; one found empty leaves the lists,
        except that an empty new flow goes to the old list first when that holds flows (no starving them)."""
        new, old = self.new, self.old
        while new or old:
            head = new or old
            flow = head[0]
            if flow.deficit <= 0:
                flow.deficit += QUANTUM
                old.append(head.popleft())
                continue
            packet = flow.codel.dequeue(now, flow)
            if packet is None:
                head.popleft()
                if head is new and old:
                    old.append(flow)
                else:
                    flow.listed = False
                continue
            flow.deficit -= packet.size
            return packet
        return None
