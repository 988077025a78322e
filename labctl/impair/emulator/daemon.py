"""The link emulator process (`labctl emulate CONFIG`, started by the runtime as a service of the lab): for each
emulated link direction in its configuration, an NFQUEUE in a node's namespace and a Pipe that decides when each
packet held there is released or dropped. SIGHUP reloads the configuration (pipes kept if unchanged, the packets of
removed ones released), SIGTERM releases every packet still held and ends it. It writes the configuration's
generation to the `ready` file once every queue is bound, and each pipe's counters to the `stats` file each second."""
from __future__ import annotations

import json
import logging
import random
import select
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from labctl.impair.emulator.model import Packet, Pipe
from labctl.kernel import netns
from labctl.kernel.nfqueue import QueueSocket
from labctl.paths import NETNS_DIR
from labctl.plan import Shaping

log = logging.getLogger(__name__)
ETHERNET = 14           # NFQUEUE gives the IP packet; a rate counts the frame, as tc does
SPIN_S = 0.001          # the last stretch before a release is waited for by polling, for sub-millisecond timing
STATS_EVERY_S = 1.0


class PipeState:
    def __init__(self, name: str, spec: dict):
        self.name, self.spec = name, spec
        self.pipe = Pipe(Shaping.model_validate(spec), random.Random())
        self.held: set[int] = set()


class Emulator:
    def __init__(self, config: Path):
        self.config_path = config
        self.sockets: dict[str, QueueSocket] = {}               # namespace -> its socket
        self.pipes: dict[tuple[str, int], PipeState] = {}       # (namespace, queue) -> pipe
        self.reload_wanted = self.stop_wanted = False
        self.poller = select.epoll()
        self.by_fd: dict[int, str] = {}

    def load(self) -> None:
        """Bind what the configuration has and the emulator has not; release and unbind what it no longer has."""
        config = json.loads(self.config_path.read_text())
        wanted = {(p["namespace"], p["queue"]): p for p in config["pipes"]}
        for key in [k for k, state in self.pipes.items() if k not in wanted or wanted[k]["shaping"] != state.spec]:
            state = self.pipes.pop(key)
            self.sockets[key[0]].verdicts([(key[1], packet, True) for packet in state.held])
            if key not in wanted:
                self.sockets[key[0]].unbind(key[1])
        for key, spec in wanted.items():
            if key not in self.pipes:
                namespace, queue = key
                if key not in self.pipes and namespace not in self.sockets:
                    self._open(namespace)
                if queue not in self.sockets[namespace].queues:
                    self.sockets[namespace].bind(queue)
                self.pipes[key] = PipeState(spec["name"], spec["shaping"])
        self.ready, self.stats = Path(config["ready"]), Path(config["stats"])
        self.ready.write_text(f"{config['generation']}\n")
        log.info("generation %s: %d pipes", config["generation"], len(self.pipes))

    def _open(self, namespace: str) -> None:
        with netns.entered(NETNS_DIR / namespace):
            sock = QueueSocket()
        self.sockets[namespace] = sock
        self.by_fd[sock.fileno()] = namespace
        self.poller.register(sock.fileno(), select.EPOLLIN)

    def run(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload_wanted", True))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stop_wanted", True))
        self.load()
        next_stats = time.monotonic()
        while not self.stop_wanted:
            if self.reload_wanted:
                self.reload_wanted = False
                self.load()
            now = time.monotonic()
            due = min((t for s in self.pipes.values() if (t := s.pipe.next_time()) is not None), default=now + 0.1)
            wait = max(0.0, min(due, next_stats) - now - SPIN_S)
            for fd, _ in self.poller.poll(wait):
                self._arrivals(self.by_fd[fd])
            self._releases(time.monotonic())
            if time.monotonic() >= next_stats:
                self._write_stats()
                next_stats = time.monotonic() + STATS_EVERY_S
        for (namespace, queue), state in self.pipes.items():
            self.sockets[namespace].verdicts([(queue, packet, True) for packet in state.held])
        self._write_stats()

    def _arrivals(self, namespace: str) -> None:
        sock, now, drops = self.sockets[namespace], time.monotonic(), []
        for queued in sock.receive():
            state = self.pipes.get((namespace, queued.queue))
            if state is None:                   # a queue just dropped from the configuration
                drops.append((queued.queue, queued.id, True))
                continue
            if state.pipe.enqueue(now, Packet(queued.id, queued.length + ETHERNET, queued.flow)):
                state.held.add(queued.id)
            dropped = state.pipe.take_drops()
            state.held.difference_update(dropped)
            drops += [(queued.queue, packet, False) for packet in dropped]
        if drops:
            sock.verdicts(drops)

    def _releases(self, now: float) -> None:
        verdicts: dict[str, list[tuple[int, int, bool]]] = {}
        for (namespace, queue), state in self.pipes.items():
            due = state.pipe.next_time()
            if due is None or due > now:
                continue
            released = state.pipe.advance(now)
            dropped = state.pipe.take_drops()
            state.held.difference_update(released)
            state.held.difference_update(dropped)
            verdicts.setdefault(namespace, []).extend(
                [(queue, p, True) for p in released] + [(queue, p, False) for p in dropped])
        for namespace, batch in verdicts.items():
            self.sockets[namespace].verdicts(batch)

    def _write_stats(self) -> None:
        stats = {state.name: {"implementation": state.pipe.implementation, **asdict(state.pipe.counters)}
                 for state in self.pipes.values()}
        tmp = self.stats.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=1))
        tmp.replace(self.stats)


def main(config: str) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    Emulator(Path(config)).run()
    return 0
