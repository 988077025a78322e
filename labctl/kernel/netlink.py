"""Bulk rtnetlink requests packed by hand: the fast path for building a lab.

pyroute2 (used everywhere else: status, tc, occasional changes) encodes each request and decodes each reply
through its generic message classes, and waits for one reply per request: about 0.25 ms per message, which at
thousands of namespaces is most of a lab's bring-up. This module packs the few requests a build needs (veth
pairs, bridges, link settings, addresses, routes) with `struct`, sends many of them per `sendmsg`, and reads
the acks and link dumps with a parser that looks only at the fields it needs, so the kernel's own work is
what remains.

    batch = Batch("demo.r1")
    batch.add_veth("eth0", 5, "eth1", 7, peer_netns_fd=fd)
    batch.set_link(5, up=True)
    batch.add_address(5, "10.0.0.1/24")
    batch.add_route("10.0.1.0/24", "10.0.0.2", 5, metric=20)
    with RtnlSocket() as rtnl:        # bound to the namespace this thread is in now
        rtnl.send(batch)              # raises RequestFailed naming the first failed request
"""
from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Callable, Iterator, NamedTuple

from labctl.errors import LabError

# linux/netlink.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x1, 0x4, 0x100, 0x200
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x100, 0x200, 0x400, 0x300
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NLMSGERR_ATTR_MSG = 1
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
# linux/rtnetlink.h, if_link.h, veth.h, if_addr.h
RTM_NEWLINK, RTM_GETLINK, RTM_SETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 18, 19, 20, 24
IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_NET_NS_FD = 3, 4, 10, 16, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFF_UP = 0x1
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS, IFA_F_NODAD = 1, 2, 8, 0x2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY = 1, 4, 5, 6
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

_HDR = struct.Struct("=IHHII")            # nlmsghdr: length, type, flags, seq, port id
_IFINFO = struct.Struct("=BxHiII")        # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")         # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")      # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NLA = struct.Struct("=HH")               # nlattr: length, type
_U32, _I32 = struct.Struct("=I"), struct.Struct("=i")
_NLA_TYPE = 0x3FFF                        # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

ACK_COST = 1024       # what one queued ack counts against the receive buffer (measured: about 840 bytes)
RECEIVE = 1 << 16     # a dump skb is at most 32 KiB
SEND = 1 << 16        # bytes per sendmsg; the kernel refuses more than SO_SNDBUF - 32


class RequestFailed(LabError):
    """The kernel refused a request: `request` says which ("add route ... in demo.r1"), `errno` and
    `kernel_message` (its extended ack, "" if none) say why."""

    def __init__(self, request: str, error: int, kernel_message: str = ""):
        self.request, self.errno, self.kernel_message = request, error, kernel_message
        super().__init__(f"{request}: {os.strerror(error)}" + (f" ({kernel_message})" if kernel_message else ""))


def _attr(kind: int, data: bytes) -> bytes:
    return _NLA.pack(4 + len(data), kind) + data + b"\0" * (-len(data) % 4)


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, _U32.pack(value))


def _name(kind: int, value: str) -> bytes:
    return _attr(kind, value.encode() + b"\0")


def _prefix(text: str) -> tuple[int, bytes, int]:
    """"10.0.0.1/24" or "fd00::1/64" -> (family, packed address, prefix length)."""
    address, _, length = text.partition("/")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        packed = socket.inet_pton(family, address)
        bits = int(length) if length else len(packed) * 8
    except (OSError, ValueError):
        raise ValueError(f"not an address or prefix: {text!r}") from None
    if not 0 <= bits <= len(packed) * 8:
        raise ValueError(f"prefix length out of range: {text!r}")
    return family, packed, bits


def _index(index: int) -> str:
    return f" (index {index})" if index else ""


class Request(NamedTuple):
    kind: int       # RTM_NEWLINK, ...
    flags: int
    body: bytes     # everything after the netlink header
    what: str       # for error messages: "add address 10.0.0.1/24 dev index 5"


class Batch:
    """Requests for one namespace (named `namespace` in error messages), sent in this order by
    `RtnlSocket.send`. Index 0 lets the kernel choose an interface's index."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.requests: list[Request] = []

    def __len__(self) -> int:
        return len(self.requests)

    def _add(self, kind: int, flags: int, body: bytes, what: str) -> None:
        self.requests.append(Request(kind, NLM_F_REQUEST | NLM_F_ACK | flags, body, what))

    def add_veth(self, name: str, index: int, peer_name: str, peer_index: int,
                 peer_netns_fd: int | None = None) -> None:
        """A veth pair; the peer is created straight in the namespace of `peer_netns_fd` (an open
        /run/netns/NAME, which must stay open until the batch is sent), else beside `name`. The kernel
        honours `peer_index` only when `index` is given too (with index 0 it picks both)."""
        peer = _IFINFO.pack(socket.AF_UNSPEC, 0, peer_index, 0, 0) + _name(IFLA_IFNAME, peer_name)
        if peer_netns_fd is not None:
            peer += _u32(IFLA_NET_NS_FD, peer_netns_fd)
        info = _name(IFLA_INFO_KIND, "veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
        where = "" if peer_netns_fd is None else f" in netns fd {peer_netns_fd}"
        self._add(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                  _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _name(IFLA_IFNAME, name) + _attr(IFLA_LINKINFO, info),
                  f"add veth {name}{_index(index)} with peer {peer_name}{_index(peer_index)}{where}")

    def add_bridge(self, name: str, index: int = 0) -> None:
        self._add(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                  _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _name(IFLA_IFNAME, name)
                  + _attr(IFLA_LINKINFO, _name(IFLA_INFO_KIND, "bridge")),
                  f"add bridge {name}{_index(index)}")

    def set_link(self, index: int, up: bool | None = None, mtu: int | None = None,
                 master: int | None = None) -> None:
        """Change an existing interface: administratively up or down, its MTU, its master (0: none)."""
        attrs, said = b"", []
        if up is not None:
            said.append("up" if up else "down")
        if mtu is not None:
            attrs += _u32(IFLA_MTU, mtu)
            said.append(f"mtu {mtu}")
        if master is not None:
            attrs += _u32(IFLA_MASTER, master)
            said.append(f"master index {master}" if master else "nomaster")
        self._add(RTM_SETLINK, 0,
                  _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up is not None else 0)
                  + attrs, f"set link index {index} {' '.join(said)}".rstrip())

    def add_address(self, index: int, address: str) -> None:
        """"10.0.0.1/24" or "fd00::1/64" on interface `index`; IPv6 ones skip duplicate address detection."""
        family, packed, bits = _prefix(address)
        if family == socket.AF_INET:
            attrs = _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        else:
            attrs = _attr(IFA_ADDRESS, packed) + _u32(IFA_FLAGS, IFA_F_NODAD)
        self._add(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, _IFADDR.pack(family, bits, 0, RT_SCOPE_UNIVERSE, index) + attrs,
                  f"add address {address} dev index {index}")

    def add_route(self, dst: str, gateway: str, oif: int, metric: int = 0) -> None:
        """A unicast route in the main table, to `dst` ("10.0.1.0/24", "fd00:1::/64" or "default") via
        `gateway` out of interface `oif`. Like `ip route replace`: sending it again changes nothing.
        Protocol static, as pyroute2 (and so labctl before this module) sets it and the docs show it;
        `ip route add` would say boot."""
        family = socket.AF_INET6 if ":" in gateway else socket.AF_INET
        attrs, bits = b"", 0
        if dst != "default":
            dst_family, packed, bits = _prefix(dst)
            if dst_family != family:
                raise ValueError(f"route to {dst} via {gateway}: the families differ")
            attrs = _attr(RTA_DST, packed)
        attrs += _attr(RTA_GATEWAY, socket.inet_pton(family, gateway)) + _u32(RTA_OIF, oif) + _u32(RTA_PRIORITY, metric)
        self._add(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE,
                  _RTMSG.pack(family, bits, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) + attrs,
                  f"add route {dst} via {gateway} dev index {oif}" + (f" metric {metric}" if metric else ""))

    def pack(self, seq: int) -> list[bytes]:
        """The requests as netlink messages, numbered from `seq`."""
        return [_HDR.pack(16 + len(r.body), r.kind, r.flags, seq + i, 0) + r.body for i, r in enumerate(self.requests)]


def _messages(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(type, flags, seq, offset of the payload, end) of each netlink message in one receive buffer."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind, flags, seq, _ = _HDR.unpack_from(data, offset)
        if length < 16:
            raise LabError(f"malformed netlink message (length {length})")
        yield kind, flags, seq, offset + 16, offset + length
        offset += (length + 3) & ~3


def _extack(data: bytes, offset: int, end: int) -> str:
    while offset + 4 <= end:
        length, kind = _NLA.unpack_from(data, offset)
        if length < 4:
            break
        if kind & _NLA_TYPE == NLMSGERR_ATTR_MSG:
            return bytes(data[offset + 4:offset + length]).split(b"\0", 1)[0].decode(errors="replace")
        offset += (length + 3) & ~3
    return ""


class Ack(NamedTuple):
    seq: int
    error: int          # 0, or the errno the request failed with
    message: str = ""   # the kernel's extended ack message, if any


def parse_acks(data: bytes) -> list[Ack]:
    """The acks (NLMSG_ERROR messages) in one receive buffer; other messages are skipped."""
    acks = []
    for kind, flags, seq, offset, end in _messages(data):
        if kind != NLMSG_ERROR:
            continue
        error = -_I32.unpack_from(data, offset)[0]
        message = ""
        if error and flags & NLM_F_ACK_TLVS:
            # after the error: the request's header (NLM_F_CAPPED) or the whole request, then the attributes
            echoed = 16 if flags & NLM_F_CAPPED else _U32.unpack_from(data, offset + 4)[0]
            message = _extack(data, offset + 4 + ((echoed + 3) & ~3), end)
        acks.append(Ack(seq, error, message))
    return acks


def await_acks(receive: Callable[[], bytes], seqs: range) -> Ack | None:
    """Read until every request numbered in `seqs` is answered; the first failure (by number), or None."""
    pending, failed = len(seqs), None
    while pending:
        for ack in parse_acks(receive()):
            if ack.seq in seqs:
                pending -= 1
                if ack.error and (failed is None or ack.seq < failed.seq):
                    failed = ack
    return failed


class Link(NamedTuple):
    name: str
    operstate: str      # "UP", "DOWN", "LOWERLAYERDOWN", "UNKNOWN", ...


def parse_links(data: bytes, seq: int, links: dict[int, Link]) -> bool:
    """Add the RTM_NEWLINK messages of dump `seq` in one receive buffer to `links`; True at its end."""
    for kind, _, mseq, offset, end in _messages(data):
        if mseq != seq:
            continue
        if kind == NLMSG_DONE or kind == NLMSG_ERROR:
            error = -_I32.unpack_from(data, offset)[0] if end >= offset + 4 else 0
            if error:
                raise RequestFailed("dump links", error)
            return True
        if kind != RTM_NEWLINK:
            continue
        index = _IFINFO.unpack_from(data, offset)[2]
        name, state, at = "", 0, offset + 16
        while at + 4 <= end:                    # IFLA_IFNAME and IFLA_OPERSTATE come first: stop there
            length, attr = _NLA.unpack_from(data, at)
            attr &= _NLA_TYPE
            if attr == IFLA_IFNAME:
                name = bytes(data[at + 4:at + length - 1]).decode()
            elif attr == IFLA_OPERSTATE:
                state = data[at + 4]
                if name:
                    break
            at += (length + 3) & ~3
        links[index] = Link(name, OPERSTATES[state] if state < len(OPERSTATES) else str(state))
    return False


class RtnlSocket:
    """A NETLINK_ROUTE socket in the network namespace the calling thread is in when it is created (the
    kernel binds a socket to its creator's namespace for good). Cheap: a file descriptor, no thread, no buffer
    kept, so thousands can be open. `rcvbuf` is the receive buffer asked for; a batch is sent in pieces whose
    acks fit in the buffer granted. One thread at a time."""

    def __init__(self, rcvbuf: int = 1 << 20):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except PermissionError:             # not CAP_NET_ADMIN: capped at net.core.rmem_max
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.bind((0, 0))
        except BaseException:
            self.sock.close()
            raise
        self.max_acks = max(1, self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // ACK_COST)
        self.max_send = min(SEND, self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - 32)
        self.seq = 0

    def _receiver(self, flags: int = 0) -> Callable[[], bytes]:
        buffer = bytearray(RECEIVE)

        def receive() -> bytes:
            try:
                n = self.sock.recv_into(buffer, RECEIVE, socket.MSG_TRUNC | flags)
            except BlockingIOError:
                raise LabError("netlink: the kernel sent fewer acks than requests") from None
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise LabError("netlink: acks lost, the receive buffer overflowed") from None
                raise
            if n > RECEIVE:
                raise LabError(f"netlink: a message of {n} bytes was truncated")
            return bytes(buffer[:n])
        return receive

    def send(self, batch: Batch) -> None:
        """Send every request of `batch`, in order, as few `sendmsg` calls as the buffers allow, and read
        every ack. Raises `RequestFailed` for the first request (in batch order) the kernel refused. The
        kernel carries on with the rest of a buffer after a failure, so requests after the failed one, up to
        the end of its `sendmsg`, may have been applied; later pieces of the batch are not sent."""
        messages = batch.pack(self.seq + 1)
        receive = self._receiver(socket.MSG_DONTWAIT)   # the kernel handles a buffer within sendmsg
        start = 0
        while start < len(messages):
            end, size = start, 0
            while end < len(messages) and end - start < self.max_acks and (
                    end == start or size + len(messages[end]) <= self.max_send):
                size += len(messages[end])
                end += 1
            try:
                self.sock.sendmsg([b"".join(messages[start:end])])
            except OSError as exc:
                raise LabError(f"netlink: sending {end - start} requests to {batch.namespace}: {exc.strerror}") from exc
            seqs = range(self.seq + 1, self.seq + 1 + end - start)
            self.seq += end - start
            failed = await_acks(receive, seqs)
            if failed:
                raise RequestFailed(f"{batch.requests[start + failed.seq - seqs.start].what} in {batch.namespace}",
                                    failed.error, failed.message)
            start = end

    def operstates(self) -> dict[int, Link]:
        """{index: Link(name, operstate)} of every interface, from one link dump."""
        self.seq += 1
        self.sock.send(_HDR.pack(32, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
                       + _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        links: dict[int, Link] = {}
        receive = self._receiver()
        while not parse_links(receive(), self.seq, links):
            pass
        return links

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RtnlSocket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
