"""labctl.kernel.nfqueue against the kernel, in scratch namespaces t-nfq<pid>-a and -b joined by a veth, with
iptables rules (only inside them) queueing a's egress to queue 7: held pings, drops, TCP through the queue, what
the kernel does with GSO packets, a full queue and a full receive buffer, and the packet rate the binding keeps up."""
from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple, TypeVar

import pytest

from labctl.errors import LabError
from labctl.kernel import nfqueue
from labctl.kernel.netns import entered
from labctl.kernel.nfqueue import QueuedPacket, QueueSocket
from labctl.paths import NETNS_DIR

T = TypeVar("T")
PREFIX = f"t-nfq{os.getpid() % 100000}"
ADDRESSES = {4: ("10.77.0.1", "10.77.0.2"), 6: ("fd77::1", "fd77::2")}
MTU = 1500


class Pair(NamedTuple):
    a: str
    b: str
    va: int     # index of a's end of the veth


def sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def queue_rule(ns: str, verb: str, chain: str, where: str, dev: str, num: int) -> None:
    """Add (-A, -I) or delete (-D) the rules of both families that queue the packets of `chain` passing `where`
    (-o, -i) `dev` to queue `num`; IPv6 multicast excepted (MLD reports come at random times after a link is up)."""
    for tables, more in (("iptables", ()), ("ip6tables", ("!", "-d", "ff00::/8"))):
        sh("ip", "netns", "exec", ns, tables, "-t", "mangle", verb, chain, where, dev, *more, "-j", "NFQUEUE",
           "--queue-num", str(num))


@pytest.fixture
def pair() -> Iterator[Pair]:
    """Namespaces a and b, veth va (in a) to vb (in b), addresses of both families with static neighbours (so no
    neighbour discovery is held), and a's egress on va queued to queue 7; all removed by name at the end."""
    a, b = f"{PREFIX}-a", f"{PREFIX}-b"
    made = []
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            made.append(ns)
        sh("ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
        for ns, dev, i in ((a, "va", 0), (b, "vb", 1)):
            sh("ip", "-n", ns, "addr", "add", f"{ADDRESSES[4][i]}/24", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", f"{ADDRESSES[6][i]}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for ns, dev, peer, i in ((a, "va", b, 1), (b, "vb", a, 0)):
            mac = re.search(r"link/ether (\S+)", sh("ip", "-n", peer, "link", "show", "dev", "vb" if i else "va"))[1]
            for six in (4, 6):
                sh("ip", "-n", ns, "neigh", "replace", ADDRESSES[six][i], "lladdr", mac, "dev", dev, "nud", "permanent")
        queue_rule(a, "-A", "POSTROUTING", "-o", "va", 7)
        yield Pair(a, b, int(sh("ip", "-n", a, "-o", "link", "show", "dev", "va").split(":")[0]))
        queue_rule(a, "-D", "POSTROUTING", "-o", "va", 7)
    finally:
        for ns in reversed(made):
            sh("ip", "netns", "del", ns)


def inside(ns: str, factory: Callable[[], T]) -> T:
    """factory() run with this thread in namespace `ns` for the while: the sockets it opens stay in `ns`."""
    with entered(NETNS_DIR / ns):
        return factory()


@contextmanager
def bound(ns: str, num: int = 7, rcvbuf: int | None = None, **config: int) -> Iterator[QueueSocket]:
    queue = inside(ns, lambda: QueueSocket(rcvbuf))
    try:
        queue.bind(num, **config)
        yield queue
    finally:
        queue.close()


class Holder(threading.Thread):
    """Gives each packet of `queue` its verdict (accept, or drop) `hold` seconds after it was read, as the link
    emulator would; keeps what it saw and the most packets it held at once."""

    def __init__(self, queue: QueueSocket, hold: float, accept: bool = True):
        super().__init__(daemon=True)
        self.queue, self.hold, self.accept = queue, hold, accept
        self.seen: list[QueuedPacket] = []
        self.max_held = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        held: deque[tuple[float, QueuedPacket]] = deque()
        while not self.stopping.is_set():
            select.select([self.queue], [], [], min(0.05, max(0.0, held[0][0] - time.monotonic())) if held else 0.05)
            now = time.monotonic()
            for packet in self.queue.receive():
                self.seen.append(packet)
                held.append((now + self.hold, packet))
            self.max_held = max(self.max_held, len(held))
            due = []
            while held and held[0][0] <= now:
                due.append(held.popleft()[1])
            self.queue.verdicts([(p.queue, p.id, self.accept) for p in due])


@contextmanager
def holding(queue: QueueSocket, hold: float, accept: bool = True) -> Iterator[Holder]:
    holder = Holder(queue, hold, accept)
    holder.start()
    try:
        yield holder
    finally:
        holder.stopping.set()
        holder.join()


def echo_requests(packets: list[QueuedPacket]) -> list[QueuedPacket]:
    """The ICMP and ICMPv6 echo requests among `packets`."""
    return [p for p in packets if (p.payload[9], p.payload[20]) == (socket.IPPROTO_ICMP, 8)
            or (p.payload[6], p.payload[40]) == (socket.IPPROTO_ICMPV6, 128)]


def ping(ns: str, dst: str, count: int, *options: str) -> tuple[int, list[float]]:
    """(replies, their round-trip times in ms) of `ping -c count` from `ns`."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", str(count), *options, dst],
                         capture_output=True, text=True, timeout=30).stdout
    return int(re.search(r"(\d+) received", out)[1]), [float(t) for t in re.findall(r"time=([\d.]+) ms", out)]


def queue_stats(ns: str, num: int) -> dict[str, int]:
    """The kernel's counters for queue `num` in namespace `ns`."""
    for line in sh("ip", "netns", "exec", ns, "cat", "/proc/net/netfilter/nfnetlink_queue").splitlines():
        fields = [int(f) for f in line.split()]
        if fields[0] == num:
            return dict(zip(("queue", "portid", "waiting", "copy_mode", "copy_range", "queue_dropped",
                             "user_dropped", "id_sequence"), fields))
    raise AssertionError(f"queue {num} is not bound in {ns}")


def tcp_transfer(pair: Pair, six: int, data: bytes = b"", seconds: float = 0.0) -> tuple[int, int, float]:
    """Send `data` (or 64 KiB chunks for `seconds`) from a to b over TCP: (bytes sent, bytes b received, seconds)."""
    family = socket.AF_INET if six == 4 else socket.AF_INET6
    server = inside(pair.b, lambda: socket.create_server((ADDRESSES[six][1], 5001), family=family))
    received = [0]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(1 << 16):
                received[0] += len(chunk)
    reader = threading.Thread(target=serve)
    reader.start()
    try:
        client = inside(pair.a, lambda: socket.create_connection((ADDRESSES[six][1], 5001), timeout=20))
        start = time.monotonic()
        with client:
            if data:
                client.sendall(data)
                sent = len(data)
            else:
                chunk, sent = b"x" * (1 << 16), 0
                while time.monotonic() - start < seconds:
                    client.sendall(chunk)
                    sent += len(chunk)
        reader.join(30)
        return sent, received[0], time.monotonic() - start
    finally:
        server.close()


def tcp_payload(packets: list[QueuedPacket]) -> tuple[int, int]:
    """(TCP payload bytes, counting each sequence number once; the largest wire length) of `packets`."""
    by_seq: dict[int, int] = {}
    for p in packets:
        if p.hw_protocol == nfqueue.ETH_P_IP:
            header, proto = (p.payload[0] & 0xF) * 4, p.payload[9]
        else:
            header, proto = 40, p.payload[6]
        if proto == socket.IPPROTO_TCP:
            tcp = p.payload[header:]
            by_seq[int.from_bytes(tcp[4:8], "big")] = p.length - header - (tcp[12] >> 4) * 4
    return sum(by_seq.values()), max(p.length for p in packets)


@pytest.mark.parametrize("six", [4, 6])
def test_held_pings_come_back_30ms_late(pair, six):
    with bound(pair.a) as queue, holding(queue, 0.030) as holder:
        replies, rtts = ping(pair.a, ADDRESSES[six][1], 10, "-i", "0.05")
    assert replies == 10, rtts
    assert 30.0 <= min(rtts) and max(rtts) < 35.0, rtts
    print(f"\nIPv{six} pings held 30 ms: RTT {min(rtts)} to {max(rtts)} ms")
    requests = echo_requests(holder.seen)
    assert len(requests) == 10
    first = requests[0]
    assert (first.queue, first.hook, first.outdev, first.indev) == (7, nfqueue.HOOKS.index("postrouting"), pair.va, 0)
    assert first.hw_protocol == (nfqueue.ETH_P_IP if six == 4 else nfqueue.ETH_P_IPV6)
    assert first.length == len(first.payload) == (84 if six == 4 else 104)    # not cut: no NFQA_CAP_LEN
    family = socket.AF_INET if six == 4 else socket.AF_INET6
    assert first.flow.startswith(b"".join(socket.inet_pton(family, a) for a in ADDRESSES[six]))
    assert [p.id for p in requests] == sorted({p.id for p in requests})    # ids count up, per queue


def test_drop_verdicts_leave_pings_unanswered(pair):
    with bound(pair.a) as queue, holding(queue, 0.0, accept=False) as holder:
        replies, _ = ping(pair.a, ADDRESSES[4][1], 3, "-i", "0.2", "-W", "1")
        assert replies == 0
        assert len(echo_requests(holder.seen)) == 3
        assert queue.verdict_errors == 0


@pytest.mark.parametrize("six", [4, 6])
def test_tcp_through_the_held_queue(pair, six):
    data = os.urandom(256 << 10)
    with bound(pair.a) as queue, holding(queue, 0.030) as holder:
        sent, received, _ = tcp_transfer(pair, six, data)
    assert received == sent == len(data)
    payload, largest = tcp_payload(holder.seen)
    assert payload == len(data) and largest <= MTU


@pytest.mark.parametrize("f_gso", [False, True], ids=["segmented", "with-F_GSO"])
def test_gso_packets_come_segmented_unless_asked(pair, f_gso):
    """veth offloads are on, so TCP hands the stack 64 KB packets; without NFQA_CFG_F_GSO (as bind sets it) the kernel
    queues them as wire packets, whose lengths add up to what was sent. The control sets the flag."""
    data = os.urandom(4 << 20)
    assert "tcp-segmentation-offload: on" in sh("ip", "netns", "exec", pair.a, "ethtool", "-k", "va")
    with bound(pair.a) as queue:
        if f_gso:
            queue.sock.send(nfqueue.pack_config(7, flags=nfqueue.NFQA_CFG_F_GSO, mask=nfqueue.NFQA_CFG_F_GSO))
        with holding(queue, 0.0) as holder:
            sent, received, _ = tcp_transfer(pair, 4, data)
    assert received == sent == len(data)
    payload, largest = tcp_payload(holder.seen)
    assert payload == len(data)
    if f_gso:
        assert largest > 16 * MTU
    else:
        assert largest == MTU and len(holder.seen) >= len(data) // (MTU - 52)
        assert all(p.length > len(p.payload) == 128 for p in holder.seen if p.length > 128)   # NFQA_CAP_LEN


def test_packets_held_at_a_senders_egress_throttle_its_tcp(pair):
    """TCP Small Queues counts a's packets held in its queue against a's socket, so only a few are let out at a
    time; held at b's ingress (the veth orphaned them) they are not."""
    with bound(pair.a) as queue, holding(queue, 0.030) as egress:
        sent_egress, received, seconds_egress = tcp_transfer(pair, 4, seconds=1.0)
    assert received == sent_egress
    queue_rule(pair.b, "-A", "PREROUTING", "-i", "vb", 8)
    try:
        with bound(pair.a) as passing, holding(passing, 0.0), bound(pair.b, 8) as queue, \
                holding(queue, 0.030) as ingress:
            sent_ingress, received, seconds_ingress = tcp_transfer(pair, 4, seconds=1.0)
    finally:
        queue_rule(pair.b, "-D", "PREROUTING", "-i", "vb", 8)
    assert received == sent_ingress
    print(f"\nTCP through a 30 ms hold: at a's egress {sent_egress * 8 / seconds_egress / 1e6:.1f} Mbit/s, at most "
          f"{egress.max_held} packets held; at b's ingress {sent_ingress * 8 / seconds_ingress / 1e6:.0f} Mbit/s, "
          f"{ingress.max_held} held")
    assert egress.max_held <= 32 < 256 <= ingress.max_held


def udp_sender(ns: str, six: int) -> socket.socket:
    family = socket.AF_INET if six == 4 else socket.AF_INET6
    return inside(ns, lambda: socket.socket(family, socket.SOCK_DGRAM))


def test_a_full_queue_drops_what_comes_next(pair):
    receiver = inside(pair.b, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    receiver.bind((ADDRESSES[4][1], 9000))
    receiver.settimeout(2)
    with receiver, udp_sender(pair.a, 4) as sender, bound(pair.a, maxlen=8) as queue:
        for i in range(20):
            sender.sendto(b"%d" % i, (ADDRESSES[4][1], 9000))
        time.sleep(0.1)
        packets = queue.receive()
        assert len(packets) == 8
        stats = queue_stats(pair.a, 7)
        assert (stats["waiting"], stats["queue_dropped"], stats["user_dropped"]) == (8, 12, 0)
        queue.verdicts([(p.queue, p.id, True) for p in packets])
        assert [receiver.recv(100) for _ in range(8)] == [b"%d" % i for i in range(8)]


def test_verdict_upto_answers_every_older_packet_still_held(pair):
    receiver = inside(pair.b, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    receiver.bind((ADDRESSES[4][1], 9000))
    receiver.settimeout(2)
    with receiver, udp_sender(pair.a, 4) as sender, bound(pair.a) as queue:
        for i in range(6):
            sender.sendto(b"%d" % i, (ADDRESSES[4][1], 9000))
        time.sleep(0.1)
        ids = [p.id for p in queue.receive()]
        assert len(ids) == 6
        queue.verdict(7, ids[1], accept=False)
        queue.verdict_upto(7, ids[3])
        assert queue_stats(pair.a, 7)["waiting"] == 2
        queue.verdict_upto(7, ids[5], accept=False)
        assert queue_stats(pair.a, 7)["waiting"] == 0
        assert [receiver.recv(100) for _ in range(3)] == [b"0", b"2", b"3"]
        receiver.settimeout(0.2)
        with pytest.raises(TimeoutError):
            receiver.recv(100)
        queue.verdict(7, ids[0], accept=True)           # answered already: the kernel refuses it
        time.sleep(0.05)
        assert queue.receive() == [] and queue.verdict_errors == 1


def test_a_full_receive_buffer_drops_only_what_does_not_fit(pair):
    """NETLINK_NO_ENOBUFS: no error, the losses are counted, and once there is room again packets come in, before
    the reader has emptied the socket (without the option the kernel would drop them all until then)."""
    with udp_sender(pair.a, 4) as sender, bound(pair.a, rcvbuf=20000) as queue:
        assert queue.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < 24000
        for _ in range(100):
            sender.sendto(b"early", (ADDRESSES[4][1], 9000))
        time.sleep(0.05)
        first = queue.receive(limit=5)
        for _ in range(3):
            sender.sendto(b"late", (ADDRESSES[4][1], 9000))
        time.sleep(0.05)
        rest = queue.receive()
        packets = first + rest
        assert len(first) == 5 and 5 < len(packets) < 100
        assert [p.payload[28:] for p in packets].count(b"late") == 3
        assert queue.socket_drops() == 100 - (len(packets) - 3) == queue_stats(pair.a, 7)["user_dropped"]
        queue.verdicts([(p.queue, p.id, True) for p in packets])


def test_bind_refusals_say_why(pair):
    nobody = subprocess.run(["ip", "netns", "exec", pair.a, "setpriv", "--reuid=65534", "--regid=65534",
                             "--clear-groups", sys.executable, "-c", "from labctl.kernel.nfqueue import QueueSocket\n"
                             "QueueSocket().bind(7)"], capture_output=True, text=True, timeout=30)
    assert "LabError: nfqueue: bind queue 7: not permitted: binding a queue needs CAP_NET_ADMIN" in nobody.stderr
    with bound(pair.a) as queue:
        with pytest.raises(LabError, match="queue 7: already bound by this socket"):
            queue.bind(7)
        with pytest.raises(LabError, match="queue 7: taken: another socket"):
            with bound(pair.a):
                pass
        queue.unbind(7)
        with bound(pair.a) as other:
            assert other.queues.keys() == {7}
        queue.bind(7, copy_range=64, maxlen=100)
        assert (queue_stats(pair.a, 7)["copy_range"], queue_stats(pair.a, 7)["copy_mode"]) == (64, 2)


def test_one_socket_serves_several_queues(pair):
    queue_rule(pair.a, "-I", "POSTROUTING", "-o", "lo", 9)
    try:
        with bound(pair.a) as queue, holding(queue, 0.0) as holder:
            queue.bind(9)
            assert ping(pair.a, ADDRESSES[4][1], 1)[0] == ping(pair.a, "127.0.0.1", 1)[0] == 1
            assert queue.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= sum(queue.queues.values()) > 16 << 20
    finally:
        queue_rule(pair.a, "-D", "POSTROUTING", "-o", "lo", 9)
    assert {p.queue for p in holder.seen} == {7, 9}


FLOOD = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end, payload, n = time.monotonic() + float(sys.argv[2]), b"x" * 64, 0
while time.monotonic() < end:
    for _ in range(100):
        s.sendto(payload, (sys.argv[1], 9))
    n += 100
print(n)
"""


def test_packet_rate_of_a_receive_and_verdict_loop(pair):
    """A UDP flood through the queue, each packet accepted as soon as it is read: the rate the binding sustains
    (the sender blocks on its send buffer when the loop falls behind, so nothing is lost)."""
    seconds = 2.0
    with bound(pair.a) as queue:
        flood = subprocess.Popen(["ip", "netns", "exec", pair.a, sys.executable, "-c", FLOOD, ADDRESSES[4][1],
                                  str(seconds)], stdout=subprocess.PIPE, text=True)
        count, start, end = 0, 0.0, 0.0
        while select.select([queue], [], [], 0.2)[0] or flood.poll() is None:
            packets = queue.receive()
            queue.verdicts([(p.queue, p.id, True) for p in packets])
            if packets:
                start, end = start or time.monotonic(), time.monotonic()
                count += sum(p.flow[8:9] == b"\x11" for p in packets)
        elapsed = end - start
        sent = int(flood.communicate()[0])
        stats = queue_stats(pair.a, 7)
    print(f"\nreceive + verdict loop: {count} packets in {elapsed:.2f} s = {count / elapsed:,.0f} packets/s")
    assert count == sent and stats["queue_dropped"] == stats["user_dropped"] == 0
    assert count / elapsed >= 20000
