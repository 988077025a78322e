"""labctl's link emulator, the decision logic: for kernels without netem, the packets of an impaired link direction
are held in the kernel (NFQUEUE) and a `Pipe` per direction says, on a clock passed in, when each is released or that
it is dropped, as FreeBSD's dummynet pipes do. Pure Python, no kernel calls: the loop that binds the queues and gives
the verdicts lives elsewhere; `simulate` replays arrivals on a simulated clock, for tests and measurements."""
from __future__ import annotations

from labctl.impair.emulator.model import Counters, Packet, Pipe
from labctl.impair.emulator.sim import Trace, simulate

__all__ = ["Counters", "Packet", "Pipe", "Trace", "simulate"]
