"""The NFQUEUE binding of labctl's link emulator, packed by hand over nfnetlink_queue.

Kernels without netem cannot delay packets in tc, so labctl holds them in netfilter instead: an iptables rule in a
node's namespace (`iptables -t mangle -A POSTROUTING -o eth0 -j NFQUEUE --queue-num N`; the nftables `queue`
statement needs CONFIG_NFT_QUEUE, which this kernel lacks, while the xt target works) hands each packet of an
impaired link direction to queue N, the kernel keeps it until userspace gives its verdict, and the emulator
(labctl.impair.emulator) decides when to release (accept) or drop it. This module is the socket in between: it
binds queues, parses the packets the kernel sends (ids, lengths, interfaces, headers, a flow key) and sends
verdicts, with `struct` on a raw NETLINK_NETFILTER socket, so no C library and no dependency; the parser reads
only the attributes it needs, to keep up with tens of thousands of packets per second in one Python process.

    with QueueSocket() as queue:      # bound to the namespace this thread is in now
        queue.bind(7)
        for packet in queue.receive():                   # what has arrived, without blocking
            queue.verdict(packet.queue, packet.id, accept=True)

Choices, and what the kernel does (6.18; tests/integration/test_nfqueue_live.py checks each):
- No NFQA_CFG_F_GSO: the kernel segments a GSO packet before queueing it (and fills in pending checksums), so each
  packet is one wire packet of at most the MTU; with the flag, TCP over a veth comes in chunks of up to 64 KB.
- The wire length is NFQA_CAP_LEN when the payload was cut to `copy_range`, else the payload's length.
- Fail-open off: when a queue holds `maxlen` packets awaiting a verdict (those read and not yet answered count),
  the kernel drops new ones (queue_dropped in /proc/net/netfilter/nfnetlink_queue), as a full link queue would,
  rather than letting them pass unimpaired.
- The receive buffer grows at each bind to hold every packet the bound queues may hold, so it cannot overflow.
  And NETLINK_NO_ENOBUFS, for a buffer given smaller: when it is full the kernel drops just the packets that do not
  fit (counted by `socket_drops()`); without the option it would also latch the socket congested, dropping every
  packet until the reader had emptied it, and fail the next recv with ENOBUFS, which tells nothing more.
- Any number of queues on a socket: a socket serves one namespace, and one socket per namespace lets one recv loop
  and one sendmsg of verdicts serve every impaired link direction of a node. Binding a queue another socket holds
  fails with EPERM (EBUSY only when this socket holds it). Closing unbinds; the kernel drops what was still held.
- A held packet still counts against the socket that sent it: at a host's own egress, TCP Small Queues then keeps
  only a few of its packets in the queue (5, so under 2 Mbit/s through a 30 ms hold, with any congestion control); a
  UDP sender blocks on its send buffer. Forwarded packets, and those queued at the ingress of the receiving side
  (a veth orphans what it passes on), are not limited so (about 500 Mbit/s through the same hold).
"""
from __future__ import annotations

import errno
import logging
import os
import select
import socket
import struct
import time
from typing import Iterable, NamedTuple

from labctl.errors import LabError

log = logging.getLogger(__name__)

# linux/netlink.h, netfilter/nfnetlink.h, netfilter/nfnetlink_queue.h
NETLINK_NETFILTER, NLMSG_ERROR, NLM_F_REQUEST, NLM_F_ACK = 12, 2, 0x1, 0x4
SOL_NETLINK, NETLINK_NO_ENOBUFS = 270, 5
SO_RCVBUFFORCE, SO_MEMINFO, SK_MEMINFO_DROPS, CAP_NET_ADMIN = 33, 55, 8, 12
NFNL_SUBSYS_QUEUE, NFNETLINK_V0 = 3, 0
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_IFINDEX_INDEV, NFQA_IFINDEX_OUTDEV = 1, 2, 5, 6
NFQA_PAYLOAD, NFQA_CAP_LEN = 10, 13
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQNL_COPY_PACKET = 2
NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_GSO = 0x1, 0x4
NF_DROP, NF_ACCEPT = 0, 1
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD

_PACKET = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET
_CONFIG = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG
_HDR = struct.Struct("=IHHII")            # nlmsghdr: length, type, flags, seq, port id
_LEN_KIND = struct.Struct("=IH")          # its first two fields
_NFGEN = struct.Struct("=BBH")            # nfgenmsg: family, version, res_id (big-endian: pass it swapped)
_NLA = struct.Struct("=HH")               # nlattr: length, type
_PACKET_HDR = struct.Struct(">IHB")       # nfqnl_msg_packet_hdr: packet id, hw protocol, hook
_BE16, _BE32, _I32 = struct.Struct(">H"), struct.Struct(">I"), struct.Struct("=i")
# a whole verdict message: nlmsghdr, nfgenmsg, nlattr, nfqnl_msg_verdict_hdr (verdict, id: big-endian, swapped)
_VERDICT = struct.Struct("=IHHIIBBHHHII")
_NLA_TYPE = 0x3FFF                        # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

RECEIVE = 1 << 17     # bytes per recv: a packet message carries at most 64 KiB of payload
SEND = 1 << 16        # bytes per sendmsg of verdicts (2,048 of them); the kernel refuses more than SO_SNDBUF - 32
ACK_TIMEOUT = 5.0     # seconds to wait for the answer to a bind
RCVBUF = 1 << 20      # receive buffer before any bind
MESSAGE_COST = 1024   # what a packet message takes of the receive buffer, beyond twice the bytes copied (measured:
                      # 832 bytes with 48 or 128 copied, 1,280 with 256 or 512, 2,304 with 1,024 or 1,428)


class QueuedPacket(NamedTuple):
    """A packet the kernel holds until its verdict. `length` is its length on the wire (from the IP header on);
    `payload` its first bytes (up to the queue's copy_range); `flow` its `flow_key`; `indev`/`outdev` interface
    indexes (0: none; on egress only `outdev`); `hook` an index into HOOKS; `hw_protocol` ETH_P_IP or ETH_P_IPV6."""

    queue: int
    id: int
    hw_protocol: int
    hook: int
    length: int
    indev: int
    outdev: int
    payload: bytes
    flow: bytes


def flow_key(packet: bytes) -> bytes:
    """The flow a packet belongs to, for fair queueing, from its IP header: source and destination addresses, the
    protocol, then for TCP and UDP the two ports (not for IPv4 fragments: every fragment of a datagram keeps to one
    flow; not after IPv6 extension headers). Raw header bytes, hashable and cheap: 9 or 13 bytes for IPv4, 33 or 37
    for IPv6 (so the families never collide); b"" for anything else."""
    if not packet:
        return b""
    version = packet[0] >> 4
    if version == 4:
        proto = packet[9:10]
        if (proto == b"\x06" or proto == b"\x11") and not packet[6] & 0x3F and not packet[7]:
            ihl = (packet[0] & 0xF) * 4
            return packet[12:20] + proto + packet[ihl:ihl + 4]
        return packet[12:20] + proto
    if version == 6:
        proto = packet[6:7]
        if proto == b"\x06" or proto == b"\x11":
            return packet[8:40] + proto + packet[40:44]
        return packet[8:40] + proto
    return b""


def pack_config(queue_num: int, command: int = 0, copy_range: int | None = None, maxlen: int | None = None,
                flags: int | None = None, mask: int = 0, seq: int = 0) -> bytes:
    """An NFQNL_MSG_CONFIG request (asking for an ack) for `queue_num`: a command (NFQNL_CFG_CMD_*, 0: none), the
    copy range (with NFQNL_COPY_PACKET), the queue's maximum length, flags under `mask`. The kernel checks the
    flags first and applies the rest in this order, so one message binds and configures a queue."""
    attrs = b""
    if command:
        attrs += _NLA.pack(8, NFQA_CFG_CMD) + struct.pack(">BxH", command, 0)
    if copy_range is not None:
        attrs += _NLA.pack(9, NFQA_CFG_PARAMS) + struct.pack(">IB3x", copy_range, NFQNL_COPY_PACKET)
    if maxlen is not None:
        attrs += _NLA.pack(8, NFQA_CFG_QUEUE_MAXLEN) + _BE32.pack(maxlen)
    if flags is not None:
        attrs += _NLA.pack(8, NFQA_CFG_MASK) + _BE32.pack(mask) + _NLA.pack(8, NFQA_CFG_FLAGS) + _BE32.pack(flags)
    return (_HDR.pack(20 + len(attrs), _CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, 0)
            + _NFGEN.pack(socket.AF_UNSPEC, NFNETLINK_V0, socket.htons(queue_num)) + attrs)


def pack_verdict(queue_num: int, packet_id: int, accept: bool, batch: bool = False) -> bytes:
    """A verdict on one packet (NFQNL_MSG_VERDICT) or, with `batch`, on every packet of the queue up to and including
    `packet_id` (NFQNL_MSG_VERDICT_BATCH). Its sequence number is the packet id, so an error names the packet."""
    kind = NFNL_SUBSYS_QUEUE << 8 | (NFQNL_MSG_VERDICT_BATCH if batch else NFQNL_MSG_VERDICT)
    return _VERDICT.pack(32, kind, NLM_F_REQUEST, packet_id, 0, socket.AF_UNSPEC, NFNETLINK_V0,
                         socket.htons(queue_num), 12, NFQA_VERDICT_HDR,
                         socket.htonl(NF_ACCEPT if accept else NF_DROP), socket.htonl(packet_id))


class Answer(NamedTuple):
    """An NLMSG_ERROR message: the kind and sequence number of the request it answers, and its errno (0: an ack)."""

    kind: int
    seq: int
    error: int


def parse(data: bytes | bytearray | memoryview, packets: list[QueuedPacket], answers: list[Answer]) -> None:
    """Append the packets (NFQNL_MSG_PACKET) of one receive buffer to `packets`, the kernel's answers to
    `answers`; other messages are skipped."""
    offset, size = 0, len(data)
    while offset + 16 <= size:
        length, kind = _LEN_KIND.unpack_from(data, offset)
        end = offset + length
        if length < 16 or end > size:
            raise LabError(f"nfqueue: malformed netlink message (length {length})")
        if kind == _PACKET:
            packet_id = hw_protocol = hook = indev = outdev = cap_len = 0
            payload = b""
            at = offset + 20
            while at + 4 <= end:
                alen, atype = _NLA.unpack_from(data, at)
                if alen < 4:
                    break
                atype &= _NLA_TYPE
                if atype == NFQA_PAYLOAD:
                    payload = bytes(data[at + 4:at + alen])
                elif atype == NFQA_PACKET_HDR:
                    packet_id, hw_protocol, hook = _PACKET_HDR.unpack_from(data, at + 4)
                elif atype == NFQA_IFINDEX_OUTDEV:
                    outdev = _BE32.unpack_from(data, at + 4)[0]
                elif atype == NFQA_IFINDEX_INDEV:
                    indev = _BE32.unpack_from(data, at + 4)[0]
                elif atype == NFQA_CAP_LEN:
                    cap_len = _BE32.unpack_from(data, at + 4)[0]
                at += (alen + 3) & ~3
            packets.append(QueuedPacket(_BE16.unpack_from(data, offset + 18)[0], packet_id, hw_protocol, hook,
                                        cap_len or len(payload), indev, outdev, payload, flow_key(payload)))
        elif kind == NLMSG_ERROR and length >= 36:
            error = -_I32.unpack_from(data, offset + 16)[0]
            _, echoed, _, seq, _ = _HDR.unpack_from(data, offset + 20)
            answers.append(Answer(echoed, seq, error))
        offset += (length + 3) & ~3


class QueueSocket:
    """A NETLINK_NETFILTER socket for NFQUEUE in the network namespace the calling thread is in when it is created
    (queues are per namespace). Bind queues with `bind`, poll `fileno()`, read with `receive`, answer with
    `verdict`/`verdicts`. One thread at a time. `rcvbuf` fixes the receive buffer (bytes), which is otherwise sized
    at each bind to hold every packet the bound queues may hold."""

    def __init__(self, rcvbuf: int | None = None):
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        except OSError as exc:
            raise LabError(f"nfqueue: cannot open a netfilter netlink socket: {exc.strerror}") from exc
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
            self._set_rcvbuf(rcvbuf or RCVBUF)
            self.sock.bind((0, 0))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self._sized = rcvbuf is None
        self.queues: dict[int, int] = {}        # bound queue -> what its held packets may take of the buffer
        self.verdict_errors = 0                 # verdicts the kernel refused (ENOENT: no such packet held)
        self._buffer = bytearray(RECEIVE)
        self._view = memoryview(self._buffer)
        self._pending: list[QueuedPacket] = []  # packets that came while waiting for an answer
        self._answers: list[Answer] = []
        self._seq = 0

    def _set_rcvbuf(self, size: int) -> None:
        """Ask for `size` bytes of receive buffer (the kernel grants twice what it is asked for)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size // 2 + 1)
        except PermissionError:                 # not CAP_NET_ADMIN: capped at net.core.rmem_max
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size // 2 + 1)

    def _read(self, limit: int) -> None:
        """Read up to `limit` messages (each recv returns one): packets to `_pending`, answers to binds to
        `_answers`; refused verdicts are counted."""
        recv_into, buffer, view, answers = self.sock.recv_into, self._buffer, self._view, self._answers
        for _ in range(limit):
            try:
                n = recv_into(buffer, RECEIVE, socket.MSG_TRUNC)
            except BlockingIOError:
                break
            if n > RECEIVE:
                raise LabError(f"nfqueue: a message of {n} bytes was truncated")
            parse(view[:n], self._pending, answers)
        if answers:
            for answer in answers:
                if answer.error and answer.kind != _CONFIG:
                    self.verdict_errors += 1
                    log.debug("nfqueue: verdict on packet %d refused: %s", answer.seq, os.strerror(answer.error))
            self._answers = [a for a in answers if a.kind == _CONFIG]

    def receive(self, limit: int = 4096) -> list[QueuedPacket]:
        """The packets that have arrived, at most `limit` messages read; [] if none. Never blocks."""
        self._read(limit)
        packets, self._pending = self._pending, []
        return packets

    def _configure(self, queue_num: int, what: str, **config: int) -> None:
        self._seq += 1
        seq = self._seq
        try:
            self.sock.send(pack_config(queue_num, seq=seq, **config))
        except OSError as exc:
            raise LabError(f"nfqueue: {what} queue {queue_num}: {exc.strerror}") from exc
        deadline = time.monotonic() + ACK_TIMEOUT
        while True:
            self._read(4096)
            error = next((a.error for a in self._answers if a.seq == seq), None)
            if error is not None:
                self._answers = [a for a in self._answers if a.seq != seq]
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError(f"nfqueue: {what} queue {queue_num}: no answer from the kernel")
            select.select([self.sock], [], [], left)
        if error:
            raise LabError(f"nfqueue: {what} queue {queue_num}: {_explain(error)}")

    def bind(self, queue_num: int, copy_range: int = 128, maxlen: int = 8192) -> None:
        """Take queue `queue_num` (0-65535) of this namespace: each packet comes with its first `copy_range` bytes
        (from the IP header; 128 holds the IP and transport headers), at most `maxlen` wait for a verdict (more are
        dropped), GSO packets come segmented, and nothing passes unqueued (no fail-open)."""
        if not 0 <= queue_num <= 0xFFFF or not 0 < copy_range <= 0xFFFF or maxlen < 1:
            raise ValueError(f"nfqueue: bad queue {queue_num}, copy_range {copy_range} or maxlen {maxlen}")
        self._configure(queue_num, "bind", command=NFQNL_CFG_CMD_BIND, copy_range=copy_range, maxlen=maxlen,
                        flags=0, mask=NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO)
        self.queues[queue_num] = maxlen * (2 * copy_range + MESSAGE_COST)
        need = sum(self.queues.values())
        if self._sized and need > self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF):
            self._set_rcvbuf(need)

    def unbind(self, queue_num: int) -> None:
        """Give queue `queue_num` back; the kernel drops the packets it still holds."""
        self._configure(queue_num, "unbind", command=NFQNL_CFG_CMD_UNBIND)
        self.queues.pop(queue_num, None)

    def verdict(self, queue_num: int, packet_id: int, accept: bool) -> None:
        """Release (accept) or drop one held packet."""
        self._send([pack_verdict(queue_num, packet_id, accept)])

    def verdicts(self, verdicts: Iterable[tuple[int, int, bool]]) -> None:
        """Verdicts on many packets, (queue, packet id, accept) each, in as few sendmsg as fit (2,048 a call);
        the kernel applies them in this order."""
        self._send([pack_verdict(q, i, a) for q, i, a in verdicts])

    def verdict_upto(self, queue_num: int, packet_id: int, accept: bool = True) -> None:
        """One verdict for every packet `queue_num` holds with an id up to `packet_id` (ids count up from 1 per
        queue, in arrival order; the kernel compares them modulo 2**32). Safe only when every such packet is due
        the same verdict now: a FIFO without reordering, after the drops among them were sent one by one. Not
        with jitter or fair queueing, where an older packet may still be waiting."""
        self._send([pack_verdict(queue_num, packet_id, accept, batch=True)])

    def _send(self, messages: list[bytes]) -> None:
        for start in range(0, len(messages), SEND // 32):
            chunk = messages[start:start + SEND // 32]
            try:
                self.sock.send(b"".join(chunk))
            except OSError as exc:
                raise LabError(f"nfqueue: sending {len(chunk)} verdicts: {exc.strerror}") from exc

    def socket_drops(self) -> int:
        """Packets the kernel dropped because this socket's receive buffer was full (since it was opened)."""
        return struct.unpack(f"={SK_MEMINFO_DROPS + 1}I", self.sock.getsockopt(
            socket.SOL_SOCKET, SO_MEMINFO, 4 * (SK_MEMINFO_DROPS + 1)))[SK_MEMINFO_DROPS]

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> QueueSocket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _has_net_admin() -> bool:
    with open("/proc/self/status") as status:
        caps = next((line.split()[1] for line in status if line.startswith("CapEff:")), "")
    return not caps or bool(int(caps, 16) >> CAP_NET_ADMIN & 1)


def _explain(error: int) -> str:
    if error == errno.EPERM:
        return ("taken: another socket (of another process?) has bound it in this namespace" if _has_net_admin()
                else "not permitted: binding a queue needs CAP_NET_ADMIN (root)")
    if error == errno.EBUSY:
        return "already bound by this socket"
    if error in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPROTONOSUPPORT):
        return "the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE)"
    return os.strerror(error)
