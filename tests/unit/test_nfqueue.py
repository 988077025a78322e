"""labctl.kernel.nfqueue without a kernel: requests against bytes written out by hand from the kernel's structs
(linux/netfilter/nfnetlink_queue.h), packet messages built as nfqnl_build_packet_message lays them out, and a
QueueSocket over a fake socket."""
from __future__ import annotations

import errno
import socket
import struct

import pytest

from labctl.errors import LabError
from labctl.kernel import nfqueue as nfq
from labctl.kernel.nfqueue import Answer, QueuedPacket, QueueSocket, flow_key, pack_config, pack_verdict, parse


def header(length: int, kind: int, flags: int, seq: int) -> bytes:
    return struct.pack("=IHHII", length, kind, flags, seq, 0)       # nlmsghdr is in host order


def attr(kind: int, data: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * (-len(data) % 4)


def ipv4_tcp(length: int, src: str = "10.0.0.1", dst: str = "10.0.0.2", ports: tuple[int, int] = (40000, 5001),
             flags_fragment: int = 0x4000, options: bytes = b"") -> bytes:
    """An IPv4 header (with `options`) and a TCP header, then zeros up to `length` bytes."""
    ip = struct.pack(">BBHHHBBH4s4s", 0x40 | (5 + len(options) // 4), 0, length, 1, flags_fragment, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + options
    tcp = struct.pack(">HHIIBBHHH", *ports, 1000, 0, 5 << 4, 0x10, 512, 0, 0)
    return (ip + tcp).ljust(length, b"\0")


def ipv6_udp(payload: bytes, src: str = "fd00::1", dst: str = "fd00::2", ports: tuple[int, int] = (5353, 53)) -> bytes:
    udp = struct.pack(">HHHH", *ports, 8 + len(payload), 0) + payload
    return struct.pack(">IHBB16s16s", 6 << 28, len(udp), 17, 64, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + udp


def packet_message(queue: int, packet_id: int, payload: bytes, hook: int = 4, hw: int = 0x0800, family: int = 2,
                   indev: int = 0, outdev: int = 0, cap_len: int = 0) -> bytes:
    """NFQNL_MSG_PACKET in the kernel's order: header, devices, mark, timestamp, a nested conntrack attribute,
    the length before truncation, the payload."""
    attrs = attr(1, struct.pack(">IHB", packet_id, hw, hook))
    if indev:
        attrs += attr(5, struct.pack(">I", indev))
    if outdev:
        attrs += attr(6, struct.pack(">I", outdev))
    attrs += attr(3, struct.pack(">I", 0x2A)) + attr(4, struct.pack(">QQ", 1_700_000_000, 5))
    attrs += attr(11 | 0x8000, attr(1, b"\0" * 8))
    if cap_len:
        attrs += attr(13, struct.pack(">I", cap_len))
    attrs += attr(10, payload)
    body = struct.pack(">BBH", family, 0, queue) + attrs
    return header(16 + len(body), 3 << 8 | 0, 0, 0) + body


def error_message(error: int, kind: int, seq: int) -> bytes:
    """An NLMSG_ERROR answering request `kind`/`seq` (the echoed request cut to its header, as for an ack)."""
    return header(36, 2, 0x100, seq) + struct.pack("=i", -error) + header(64, kind, 5, seq)


def parsed(data: bytes) -> tuple[list[QueuedPacket], list[Answer]]:
    packets: list[QueuedPacket] = []
    answers: list[Answer] = []
    parse(data, packets, answers)
    return packets, answers


def test_bind_is_one_config_message():
    message = pack_config(7, nfq.NFQNL_CFG_CMD_BIND, copy_range=128, maxlen=8192, flags=0,
                          mask=nfq.NFQA_CFG_F_FAIL_OPEN | nfq.NFQA_CFG_F_GSO, seq=3)
    assert message == (header(64, 0x0302, 0x0005, 3)         # NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK
                       + bytes([0, 0, 0, 7])                   # nfgenmsg: AF_UNSPEC, NFNETLINK_V0, queue 7
                       + struct.pack("=HH", 8, 1) + bytes([1, 0, 0, 0])                     # command bind, pf 0
                       + struct.pack("=HH", 9, 2) + bytes([0, 0, 0, 128, 2, 0, 0, 0])    # copy 128, COPY_PACKET
                       + struct.pack("=HH", 8, 3) + bytes([0, 0, 0x20, 0])                   # maxlen 8192
                       + struct.pack("=HH", 8, 4) + bytes([0, 0, 0, 5])                      # mask FAIL_OPEN | GSO
                       + struct.pack("=HH", 8, 5) + bytes([0, 0, 0, 0]))                     # flags: both off


def test_unbind_and_flag_changes():
    assert pack_config(0x0102, nfq.NFQNL_CFG_CMD_UNBIND, seq=9) == (
        header(28, 0x0302, 5, 9) + bytes([0, 0, 1, 2]) + struct.pack("=HH", 8, 1) + bytes([2, 0, 0, 0]))
    assert pack_config(7, flags=4, mask=4) == (header(36, 0x0302, 5, 0) + bytes([0, 0, 0, 7])
                                               + struct.pack("=HH", 8, 4) + bytes([0, 0, 0, 4])
                                               + struct.pack("=HH", 8, 5) + bytes([0, 0, 0, 4]))


def test_verdict_messages():
    def expected(kind: int, verdict: int, packet_id: int) -> bytes:
        return (header(32, kind, 1, packet_id) + bytes([0, 0, 0, 7]) + struct.pack("=HH", 12, 2)
                + struct.pack(">II", verdict, packet_id))
    assert pack_verdict(7, 0x01020304, True) == expected(0x0301, 1, 0x01020304)
    assert pack_verdict(7, 5, False) == expected(0x0301, 0, 5)
    assert pack_verdict(7, 99, True, batch=True) == expected(0x0303, 1, 99)      # NFQNL_MSG_VERDICT_BATCH


def test_truncated_ipv4_tcp_packet_has_its_wire_length_from_cap_len():
    wire = ipv4_tcp(1500)
    (packet,), answers = parsed(packet_message(7, 41, wire[:128], outdev=3, cap_len=1500))
    assert packet == QueuedPacket(queue=7, id=41, hw_protocol=0x0800, hook=4, length=1500, indev=0, outdev=3,
                                  payload=wire[:128], flow=flow_key(wire))
    assert answers == []


def test_whole_ipv6_udp_packet_on_ingress():
    wire = ipv6_udp(b"question")
    (packet,), _ = parsed(packet_message(0xFFFF, 2**32 - 1, wire, hook=0, hw=0x86DD, family=10, indev=5))
    assert (packet.queue, packet.id, packet.hw_protocol, nfq.HOOKS[packet.hook]) == (0xFFFF, 2**32 - 1, 0x86DD,
                                                                                      "prerouting")
    assert (packet.length, packet.indev, packet.outdev, packet.payload) == (len(wire), 5, 0, wire)
    assert packet.flow == (socket.inet_pton(socket.AF_INET6, "fd00::1") + socket.inet_pton(socket.AF_INET6, "fd00::2")
                           + b"\x11" + struct.pack(">HH", 5353, 53))


def test_several_messages_and_answers_in_one_buffer():
    odd = ipv4_tcp(61)                                          # 61 bytes: the payload attribute is padded
    buffer = (packet_message(7, 1, odd, outdev=3) + error_message(0, 0x0302, 4)
              + packet_message(9, 2, ipv6_udp(b""), hw=0x86DD, family=10, outdev=4)
              + error_message(errno.ENOENT, 0x0301, 77) + header(16, 3, 0, 0))   # and an NLMSG_DONE, skipped
    packets, answers = parsed(buffer)
    assert [(p.queue, p.id, p.outdev, p.length) for p in packets] == [(7, 1, 3, 61), (9, 2, 4, 48)]
    assert packets[0].payload == odd
    assert answers == [Answer(0x0302, 4, 0), Answer(0x0301, 77, errno.ENOENT)]


def test_a_malformed_message_is_an_error():
    with pytest.raises(LabError, match="malformed netlink message"):
        parsed(header(8, 3 << 8, 0, 0) + b"\0" * 8)
    with pytest.raises(LabError, match="malformed netlink message"):
        parsed(packet_message(7, 1, b"x")[:-4])


def test_flow_keys():
    tcp = ipv4_tcp(60)
    assert flow_key(tcp) == socket.inet_aton("10.0.0.1") + socket.inet_aton("10.0.0.2") + b"\x06" + bytes.fromhex(
        "9c401389")
    assert flow_key(tcp) == flow_key(ipv4_tcp(1500)) != flow_key(ipv4_tcp(60, ports=(40001, 5001)))
    assert flow_key(tcp) != flow_key(ipv4_tcp(60, "10.0.0.2", "10.0.0.1", (5001, 40000)))    # the other way
    assert flow_key(ipv4_tcp(60, options=b"\x01" * 8)) == flow_key(tcp)          # ports found after options
    # every fragment of a datagram in one flow: the first (more fragments) and later ones alike, without ports
    first, later = ipv4_tcp(60, flags_fragment=0x2000), ipv4_tcp(60, flags_fragment=0x00B9)
    assert flow_key(first) == flow_key(later) == tcp[12:20] + b"\x06"
    icmp = tcp[:9] + b"\x01" + tcp[10:]
    assert flow_key(icmp) == tcp[12:20] + b"\x01"
    udp6 = ipv6_udp(b"x")
    assert len(flow_key(udp6)) == 37 and flow_key(udp6)[:32] == udp6[8:40]
    assert flow_key(udp6[:6] + b"\x00" + udp6[7:]) == udp6[8:40] + b"\x00"        # hop-by-hop first: no ports
    assert flow_key(b"") == flow_key(b"\x00" * 40) == b""
    assert flow_key(tcp[:24]) == tcp[12:20] + b"\x06" + tcp[20:24]               # cut short: what there is


class FakeSocket:
    """What QueueSocket does with its socket: sends recorded, receives from `incoming`, one message a recv."""

    def __init__(self, incoming: list[bytes] | None = None):
        self.sent: list[bytes] = []
        self.incoming = incoming or []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv_into(self, buffer: bytearray, size: int, flags: int = 0) -> int:
        if not self.incoming:
            raise BlockingIOError
        data = self.incoming.pop(0)
        buffer[:min(len(data), size)] = data[:size]
        return len(data)

    def getsockopt(self, *_: int) -> int:
        return 1 << 30

    def close(self) -> None:
        pass


@pytest.fixture
def queue() -> QueueSocket:
    """A QueueSocket (opening the netlink socket needs no privilege) whose socket is then a FakeSocket."""
    q = QueueSocket()
    q.sock.close()
    q.sock = FakeSocket()
    return q


def test_receive_reads_until_nothing_is_left(queue):
    queue.sock.incoming = [packet_message(7, i, ipv4_tcp(40)) for i in (1, 2, 3)] + [
        error_message(errno.ENOENT, 0x0301, 12)]
    assert [p.id for p in queue.receive(limit=2)] == [1, 2]
    assert [p.id for p in queue.receive()] == [3]
    assert queue.verdict_errors == 1
    assert queue.receive() == []


def test_a_message_larger_than_the_buffer_is_an_error(queue):
    queue.sock.incoming = [header(nfq.RECEIVE + 100, 3 << 8, 0, 0).ljust(nfq.RECEIVE + 100, b"\0")]
    with pytest.raises(LabError, match="truncated"):
        queue.receive()


def test_verdicts_go_out_in_few_sends(queue):
    queue.verdicts([(7, i, i % 3 != 0) for i in range(1, 5001)])
    assert [len(data) // 32 for data in queue.sock.sent] == [2048, 2048, 904]
    assert queue.sock.sent[0][:64] == pack_verdict(7, 1, True) + pack_verdict(7, 2, True)
    assert queue.sock.sent[0][64:96] == pack_verdict(7, 3, False)
    queue.sock.sent.clear()
    queue.verdict(9, 4, False)
    queue.verdict_upto(9, 10)
    queue.verdicts([])
    assert queue.sock.sent == [pack_verdict(9, 4, False), pack_verdict(9, 10, True, batch=True)]


def test_bind_waits_for_its_answer_and_keeps_packets_that_came_first(queue):
    queue.sock.incoming = [packet_message(3, 8, ipv4_tcp(40)), error_message(0, 0x0302, 1)]
    queue.bind(7)
    assert queue.sock.sent == [pack_config(7, 1, copy_range=128, maxlen=8192, flags=0, mask=5, seq=1)]
    assert queue.queues == {7: 8192 * (2 * 128 + nfq.MESSAGE_COST)}
    assert [(p.queue, p.id) for p in queue.receive()] == [(3, 8)]


@pytest.mark.parametrize("error, admin, says", [
    (errno.EPERM, True, "bind queue 7: taken: another socket .* has bound it"),
    (errno.EPERM, False, "bind queue 7: not permitted: binding a queue needs CAP_NET_ADMIN"),
    (errno.EBUSY, True, "bind queue 7: already bound by this socket"),
    (errno.EOPNOTSUPP, True, "the kernel has no nfnetlink_queue"),
    (errno.EINVAL, True, "bind queue 7: Invalid argument"),
])
def test_bind_refusals(queue, monkeypatch, error, admin, says):
    monkeypatch.setattr(nfq, "_has_net_admin", lambda: admin)
    queue.sock.incoming = [error_message(0, 0x0301, 1), error_message(error, 0x0302, 1)]   # a verdict's first
    with pytest.raises(LabError, match=says):
        queue.bind(7)
    assert queue.queues == {}


def test_bind_checks_its_arguments(queue):
    for bad in ({"queue_num": 65536}, {"queue_num": 1, "copy_range": 0}, {"queue_num": 1, "maxlen": 0}):
        with pytest.raises(ValueError):
            queue.bind(**bad)
    assert queue.sock.sent == []
