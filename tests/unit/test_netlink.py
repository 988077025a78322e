"""labctl.kernel.netlink without a kernel: requests decoded by pyroute2's own message classes, acks and link
dumps built by hand."""
from __future__ import annotations

import errno
import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from labctl.errors import LabError
from labctl.kernel import netlink as nl
from labctl.kernel.netlink import Ack, Batch, Link, RequestFailed

REQUEST_ACK = nl.NLM_F_REQUEST | nl.NLM_F_ACK


def decoded(batch: Batch, cls: type, seq: int = 1) -> list:
    """Each request of `batch`, as pyroute2 reads it."""
    messages = []
    for data in batch.pack(seq):
        msg = cls(data)
        msg.decode()
        assert msg["header"]["length"] == len(data)
        messages.append(msg)
    return messages


def test_veth_with_peer_in_another_namespace():
    batch = Batch("demo.r1")
    batch.add_veth("eth0", 17, "eth3", 23, peer_netns_fd=9)
    (msg,) = decoded(batch, ifinfmsg, seq=41)
    assert msg["header"]["type"] == nl.RTM_NEWLINK
    assert msg["header"]["flags"] == REQUEST_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL
    assert msg["header"]["sequence_number"] == 41
    assert (msg["index"], msg.get_attr("IFLA_IFNAME")) == (17, "eth0")
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer["index"] == 23
    assert peer.get_attr("IFLA_IFNAME") == "eth3"
    assert peer.get_attr("IFLA_NET_NS_FD") == 9


def test_veth_in_the_same_namespace_and_kernel_chosen_indexes():
    batch = Batch("ns")
    batch.add_veth("a", 0, "b", 0)
    (msg,) = decoded(batch, ifinfmsg)
    peer = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (msg["index"], peer["index"], peer.get_attr("IFLA_NET_NS_FD")) == (0, 0, None)
    assert batch.requests[0].what == "add veth a with peer b"


def test_bridge():
    batch = Batch("ns")
    batch.add_bridge("sw1", 30)
    (msg,) = decoded(batch, ifinfmsg)
    assert msg["header"]["flags"] == REQUEST_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL
    assert (msg["index"], msg.get_attr("IFLA_IFNAME")) == (30, "sw1")
    assert msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "bridge"
    assert batch.requests[0].what == "add bridge sw1 (index 30)"


@pytest.mark.parametrize("kwargs, flags, change, attrs, what", [
    ({"up": True}, 1, 1, {}, "set link index 5 up"),
    ({"up": False}, 0, 1, {}, "set link index 5 down"),
    ({"mtu": 1400}, 0, 0, {"IFLA_MTU": 1400}, "set link index 5 mtu 1400"),
    ({"up": True, "mtu": 9000, "master": 3}, 1, 1, {"IFLA_MTU": 9000, "IFLA_MASTER": 3},
     "set link index 5 up mtu 9000 master index 3"),
    ({"master": 0}, 0, 0, {"IFLA_MASTER": 0}, "set link index 5 nomaster"),
])
def test_set_link(kwargs, flags, change, attrs, what):
    batch = Batch("ns")
    batch.set_link(5, **kwargs)
    (msg,) = decoded(batch, ifinfmsg)
    assert (msg["header"]["type"], msg["header"]["flags"]) == (nl.RTM_SETLINK, REQUEST_ACK)
    assert (msg["index"], msg["flags"], msg["change"]) == (5, flags, change)
    assert dict(msg["attrs"]) == attrs
    assert batch.requests[0].what == what


def test_addresses():
    batch = Batch("ns")
    batch.add_address(4, "10.0.0.1/24")
    batch.add_address(4, "fd00::1/64")
    batch.add_address(1, "10.255.0.7")
    v4, v6, loopback = decoded(batch, ifaddrmsg, seq=7)
    for msg, seq in ((v4, 7), (v6, 8), (loopback, 9)):
        assert msg["header"]["type"] == nl.RTM_NEWADDR
        assert msg["header"]["flags"] == REQUEST_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL
        assert (msg["header"]["sequence_number"], msg["scope"]) == (seq, 0)
    assert (v4["family"], v4["prefixlen"], v4["index"]) == (socket.AF_INET, 24, 4)
    assert dict(v4["attrs"]) == {"IFA_LOCAL": "10.0.0.1", "IFA_ADDRESS": "10.0.0.1"}
    assert (v6["family"], v6["prefixlen"], v6["index"]) == (socket.AF_INET6, 64, 4)
    assert dict(v6["attrs"]) == {"IFA_ADDRESS": "fd00::1", "IFA_FLAGS": nl.IFA_F_NODAD}
    assert (loopback["prefixlen"], loopback["index"]) == (32, 1)
    assert batch.requests[1].what == "add address fd00::1/64 dev index 4"


def test_routes():
    batch = Batch("ns")
    batch.add_route("10.0.1.0/24", "10.0.0.1", 17, 20)
    batch.add_route("fd00:1::/64", "fd00::1", 17, 20)
    batch.add_route("default", "10.0.0.254", 18)
    batch.add_route("default", "fe80::1", 18, 1024)
    v4, v6, default4, default6 = decoded(batch, rtmsg)
    for msg in (v4, v6, default4, default6):
        assert msg["header"]["type"] == nl.RTM_NEWROUTE
        assert msg["header"]["flags"] == REQUEST_ACK | nl.NLM_F_CREATE | nl.NLM_F_REPLACE
        assert (msg["table"], msg["proto"], msg["scope"], msg["type"]) == (254, nl.RTPROT_STATIC, 0, nl.RTN_UNICAST)
        assert msg["src_len"] == msg["tos"] == msg["flags"] == 0
    assert (v4["family"], v4["dst_len"]) == (socket.AF_INET, 24)
    assert dict(v4["attrs"]) == {"RTA_DST": "10.0.1.0", "RTA_GATEWAY": "10.0.0.1", "RTA_OIF": 17, "RTA_PRIORITY": 20}
    assert (v6["family"], v6["dst_len"]) == (socket.AF_INET6, 64)
    assert dict(v6["attrs"]) == {"RTA_DST": "fd00:1::", "RTA_GATEWAY": "fd00::1", "RTA_OIF": 17, "RTA_PRIORITY": 20}
    assert (default4["family"], default4["dst_len"]) == (socket.AF_INET, 0)
    assert dict(default4["attrs"]) == {"RTA_GATEWAY": "10.0.0.254", "RTA_OIF": 18, "RTA_PRIORITY": 0}
    assert (default6["family"], default6["dst_len"]) == (socket.AF_INET6, 0)
    assert dict(default6["attrs"]) == {"RTA_GATEWAY": "fe80::1", "RTA_OIF": 18, "RTA_PRIORITY": 1024}
    assert [r.what for r in batch.requests] == [
        "add route 10.0.1.0/24 via 10.0.0.1 dev index 17 metric 20",
        "add route fd00:1::/64 via fd00::1 dev index 17 metric 20",
        "add route default via 10.0.0.254 dev index 18",
        "add route default via fe80::1 dev index 18 metric 1024"]


@pytest.mark.parametrize("call", [
    lambda b: b.add_address(1, "10.0.0.300/24"),
    lambda b: b.add_address(1, "10.0.0.1/33"),
    lambda b: b.add_address(1, "fd00::1/abc"),
    lambda b: b.add_route("fd00::/64", "10.0.0.1", 1),
    lambda b: b.add_route("10.0.0.0/8", "nonsense", 1),
])
def test_bad_addresses_are_refused_before_sending(call):
    with pytest.raises((ValueError, OSError)):
        call(Batch("ns"))


def test_pack_numbers_every_request_and_aligns_it():
    batch = Batch("ns")
    batch.add_veth("a-long-name", 0, "b", 0)
    batch.set_link(1, up=True)
    batch.add_route("default", "10.0.0.1", 2)
    messages = batch.pack(1000)
    assert [struct.unpack_from("=I", m, 8)[0] for m in messages] == [1000, 1001, 1002]
    assert all(len(m) % 4 == 0 and struct.unpack_from("=I", m)[0] == len(m) for m in messages)
    assert len(batch) == 3


def ack(seq: int, error: int = 0, message: str = "", capped: bool = True) -> bytes:
    """An NLMSG_ERROR as the kernel sends it: the error, the request's header (or, uncapped, the whole
    request), and the extended ack attributes."""
    request = struct.pack("=IHHII", 16 if capped else 24, nl.RTM_NEWROUTE, REQUEST_ACK, seq, 0)
    request += b"" if capped else b"\x0a" * 8
    tlvs = b""
    if message:
        text = message.encode() + b"\0"
        tlvs = struct.pack("=HH", 4 + len(text), nl.NLMSGERR_ATTR_MSG) + text + b"\0" * (-len(text) % 4)
        tlvs += struct.pack("=HHI", 8, 2, 20)  # NLMSGERR_ATTR_OFFS, after the message: skipped
    flags = (nl.NLM_F_CAPPED if capped else 0) | (nl.NLM_F_ACK_TLVS if tlvs else 0)
    body = struct.pack("=i", -error) + request + tlvs
    return struct.pack("=IHHII", 16 + len(body), nl.NLMSG_ERROR, flags, seq, 4242) + body


def test_parse_acks():
    assert nl.parse_acks(ack(5)) == [Ack(5, 0, "")]
    assert nl.parse_acks(ack(6, errno.ENETUNREACH, "Nexthop has invalid gateway")) == [
        Ack(6, errno.ENETUNREACH, "Nexthop has invalid gateway")]
    assert nl.parse_acks(ack(7, errno.EEXIST)) == [Ack(7, errno.EEXIST, "")]
    assert nl.parse_acks(ack(8, errno.ENODEV, "ipv4: Device not found", capped=False)) == [
        Ack(8, errno.ENODEV, "ipv4: Device not found")]


def test_several_acks_in_one_buffer():
    data = ack(1) + ack(2, errno.ENODEV, "ipv4: Device not found") + ack(3)
    assert nl.parse_acks(data) == [Ack(1, 0), Ack(2, errno.ENODEV, "ipv4: Device not found"), Ack(3, 0)]
    assert nl.await_acks(iter([data]).__next__, range(1, 4)) == Ack(2, errno.ENODEV, "ipv4: Device not found")


def test_acks_across_several_receives():
    """A stale ack (another sequence number) is skipped; the first failure by number wins, whatever the
    order of arrival; reading stops once every request is answered."""
    receives = iter([ack(9), ack(10) + ack(13, errno.EEXIST), ack(12, errno.ENETDOWN, "Nexthop device is not up"),
                     ack(11), ack(14)])
    assert nl.await_acks(receives.__next__, range(10, 14)) == Ack(12, errno.ENETDOWN, "Nexthop device is not up")
    assert next(receives) == ack(14)


def test_all_acked():
    receives = iter([ack(n) for n in range(1, 6)])
    assert nl.await_acks(receives.__next__, range(1, 6)) is None


def test_malformed_buffer():
    with pytest.raises(LabError):
        nl.parse_acks(struct.pack("=IHHII", 8, nl.NLMSG_ERROR, 0, 1, 0))


def test_request_failed_message():
    exc = RequestFailed("add route 10.0.1.0/24 via 10.0.0.1 dev index 17 in demo.r1", errno.ENETUNREACH,
                        "Nexthop has invalid gateway")
    assert isinstance(exc, LabError)
    assert str(exc) == ("add route 10.0.1.0/24 via 10.0.0.1 dev index 17 in demo.r1: Network is unreachable "
                        "(Nexthop has invalid gateway)")
    assert str(RequestFailed("add bridge sw1 in x", errno.EEXIST)) == "add bridge sw1 in x: File exists"


def link_message(seq: int, index: int, name: str, operstate: str) -> bytes:
    """An RTM_NEWLINK as a dump carries it, encoded by pyroute2, with attributes before, between and after
    the two the parser reads."""
    msg = ifinfmsg()
    msg["index"], msg["flags"] = index, 1
    msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_TXQLEN", 1000), ("IFLA_OPERSTATE", operstate),
                    ("IFLA_MTU", 1500), ("IFLA_ADDRESS", "02:00:00:00:00:01")]
    msg["header"]["type"], msg["header"]["flags"], msg["header"]["sequence_number"] = nl.RTM_NEWLINK, 2, seq
    msg.encode()
    return bytes(msg.data)


def done(seq: int, error: int = 0) -> bytes:
    return struct.pack("=IHHIIi", 20, nl.NLMSG_DONE, 2, seq, 0, -error)


def test_parse_links():
    links: dict[int, Link] = {}
    first = link_message(3, 1, "lo", "UNKNOWN") + link_message(3, 17, "eth0", "UP") + link_message(2, 99, "stale", "UP")
    assert nl.parse_links(first, 3, links) is False
    assert nl.parse_links(link_message(3, 18, "eth1", "LOWERLAYERDOWN") + link_message(3, 30, "sw1", "DOWN") + done(3), 3, links)
    assert links == {1: Link("lo", "UNKNOWN"), 17: Link("eth0", "UP"), 18: Link("eth1", "LOWERLAYERDOWN"),
                     30: Link("sw1", "DOWN")}


def test_parse_links_error():
    with pytest.raises(RequestFailed, match="dump links: Interrupted system call"):
        nl.parse_links(done(4, errno.EINTR), 4, {})
