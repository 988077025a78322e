"""Arrivals replayed through a pipe on a simulated clock, as the emulator's loop does on the real one: each packet
is enqueued at its time, and the pipe advanced at every moment it has something due. For tests and measurements."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from labctl.impair.emulator.model import Packet, Pipe


@dataclass
class Trace:
    """When each packet left the pipe, or was dropped (id -> time)."""

    released: dict[int, float] = field(default_factory=dict)
    dropped: dict[int, float] = field(default_factory=dict)


def simulate(pipe: Pipe, arrivals: Iterable[tuple[float, Packet]], until: float = float("inf")) -> Trace:
    """Feed `arrivals` (time, packet), in time order, then run the pipe until nothing is due or `until`."""
    trace = Trace()

    def run_to(end: float) -> None:
        while (due := pipe.next_time()) is not None and due <= end:
            for packet_id in pipe.advance(due):
                trace.released[packet_id] = due
            trace.dropped.update(dict.fromkeys(pipe.take_drops(), due))

    for now, packet in arrivals:
        run_to(now)
        pipe.enqueue(now, packet)
        trace.dropped.update(dict.fromkeys(pipe.take_drops(), now))
    run_to(until)
    return trace
