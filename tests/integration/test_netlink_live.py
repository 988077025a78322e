"""labctl.kernel.netlink against the kernel, in scratch namespaces t-nl<pid>-*: what a batch builds, what
`ip -j` then shows, how failures read, and how the fast path compares with pyroute2."""
from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import pytest
from pyroute2 import IPRoute

from labctl.errors import LabError
from labctl.kernel.netlink import Batch, Link, RequestFailed, RtnlSocket

T = TypeVar("T")
PREFIX = f"t-nl{os.getpid() % 100000}"
_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


@pytest.fixture
def namespaces() -> Iterator[Callable[[str], str]]:
    """make(suffix) adds namespace t-nl<pid>-<suffix>; each one made is deleted, by name, at the end."""
    made: list[str] = []

    def make(suffix: str) -> str:
        name = f"{PREFIX}-{suffix}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        return name
    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], check=True)


def inside(ns: str, factory: Callable[[], T]) -> T:
    """factory() run by a short-lived thread inside namespace `ns` (the test's own threads never enter it)."""
    def run() -> T:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            assert _libc.setns(target, _CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
        finally:
            os.close(target)
        return factory()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def ip(ns: str, *args: str) -> list[dict]:
    return json.loads(subprocess.run(["ip", "-j", "-n", ns, *args], capture_output=True, text=True,
                                     check=True).stdout)


def routes(ns: str) -> list[dict]:
    """Routes of both families in the main table, without the kernel's own (connected, link-local)."""
    return [r for six in ("-4", "-6") for r in ip(ns, six, "route", "show", "table", "main")
            if r.get("protocol") != "kernel"]


def global_addresses(ns: str, ifname: str) -> list[tuple[str, int]]:
    (link,) = ip(ns, "addr", "show", "dev", ifname)
    return sorted((a["local"], a["prefixlen"]) for a in link["addr_info"] if a["scope"] == "global")


def wait_up(rtnl: RtnlSocket, indexes: set[int], timeout: float = 5.0) -> dict[int, Link]:
    deadline = time.monotonic() + timeout
    while True:
        states = rtnl.operstates()
        if all(states.get(i, Link("", "")).operstate == "UP" for i in indexes) or time.monotonic() > deadline:
            return states
        time.sleep(0.01)


@contextmanager
def opened(ns: str) -> Iterator[int]:
    """A file descriptor of namespace `ns`, for a veth peer created in it."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def add_pair(batch: Batch, b_fd: int) -> None:
    """In batch's namespace: lo up, eth0 (index 10, MTU 1400, up, addressed) with its peer p0 (index 20)
    in namespace `b_fd`."""
    batch.set_link(1, up=True)
    batch.add_veth("eth0", 10, "p0", 20, peer_netns_fd=b_fd)
    batch.add_address(10, "10.0.0.1/24")
    batch.add_address(10, "fd00::1/64")
    batch.set_link(10, up=True, mtu=1400)


def add_routes(batch: Batch) -> None:
    batch.add_route("10.0.1.0/24", "10.0.0.2", 10, 20)
    batch.add_route("fd00:1::/64", "fd00::2", 10, 20)
    batch.add_route("default", "10.0.0.2", 10, 100)
    batch.add_route("default", "fd00::2", 10, 100)


def add_switch(batch: Batch) -> None:
    """Bridge br0 (index 30) with port p0 (index 20), holding eth0's gateway addresses."""
    batch.add_bridge("br0", 30)
    batch.set_link(20, up=True, mtu=1400, master=30)
    batch.add_address(30, "10.0.0.2/24")
    batch.add_address(30, "fd00::2/64")
    batch.set_link(30, up=True)


def pair(a: str, b: str) -> RtnlSocket:
    """eth0 in a to p0 in b, built; a socket in a."""
    rtnl = inside(a, RtnlSocket)
    batch = Batch(a)
    with opened(b) as fd:
        add_pair(batch, fd)
        rtnl.send(batch)
    return rtnl


def test_batches_build_exactly_what_was_asked(namespaces):
    a, b = namespaces("a"), namespaces("b")
    node, switch = Batch(a), Batch(b)
    add_switch(switch)
    with inside(a, RtnlSocket) as rtnl_a, inside(b, RtnlSocket) as rtnl_b, opened(b) as fd:
        add_pair(node, fd)
        add_routes(node)                        # one batch: veth, addresses, links up, routes
        rtnl_a.send(node)
        rtnl_b.send(switch)

        (eth0,) = ip(a, "-d", "link", "show", "dev", "eth0")
        assert (eth0["ifindex"], eth0["link_index"], eth0["mtu"]) == (10, 20, 1400)
        assert eth0["linkinfo"]["info_kind"] == "veth" and "UP" in eth0["flags"]
        p0, br0 = (ip(b, "-d", "link", "show", "dev", name)[0] for name in ("p0", "br0"))
        assert (p0["ifindex"], p0["link_index"], p0["mtu"], p0["master"]) == (20, 10, 1400, "br0")
        assert "UP" in p0["flags"] and "link_netnsid" in p0    # the peer lives in the other namespace
        assert (br0["ifindex"], br0["linkinfo"]["info_kind"], br0["mtu"]) == (30, "bridge", 1400)
        assert {link["ifname"] for link in ip(b, "link")} == {"lo", "p0", "br0"}
        assert global_addresses(a, "eth0") == [("10.0.0.1", 24), ("fd00::1", 64)]
        assert global_addresses(b, "br0") == [("10.0.0.2", 24), ("fd00::2", 64)]
        (v6,) = [x for x in ip(a, "-6", "addr", "show", "dev", "eth0")[0]["addr_info"] if x["local"] == "fd00::1"]
        assert v6.get("nodad") is True
        expected = [
            {"dst": "default", "gateway": "10.0.0.2", "dev": "eth0", "protocol": "static", "metric": 100, "flags": []},
            {"dst": "10.0.1.0/24", "gateway": "10.0.0.2", "dev": "eth0", "protocol": "static", "metric": 20,
             "flags": []},
            {"dst": "fd00:1::/64", "gateway": "fd00::2", "dev": "eth0", "protocol": "static", "metric": 20,
             "flags": [], "pref": "medium"},
            {"dst": "default", "gateway": "fd00::2", "dev": "eth0", "protocol": "static", "metric": 100,
             "flags": [], "pref": "medium"}]
        assert routes(a) == expected

        states = wait_up(rtnl_a, {10})
        assert states[10] == Link("eth0", "UP") and states[1] == Link("lo", "UNKNOWN")
        assert {i: s for i, s in wait_up(rtnl_b, {20, 30}).items() if i != 1} == {
            20: Link("p0", "UP"), 30: Link("br0", "UP")}
        for target in ("10.0.0.2", "fd00::2"):
            subprocess.run(["ip", "netns", "exec", a, "ping", "-c1", "-W2", target], check=True,
                           capture_output=True)

        again = Batch(a)                        # replace: the same routes again change nothing
        add_routes(again)
        rtnl_a.send(again)
        rtnl_a.send(again)
        assert routes(a) == expected


def test_failures_name_the_request_and_the_kernels_reason(namespaces):
    a = namespaces("a")
    with pair(a, namespaces("b")) as rtnl:
        bad = Batch(a)
        bad.add_route("10.9.0.0/16", "192.168.77.1", 10, 5)
        with pytest.raises(RequestFailed) as failed:
            rtnl.send(bad)
        assert str(failed.value) == (f"add route 10.9.0.0/16 via 192.168.77.1 dev index 10 metric 5 in {a}: "
                                     "Network is unreachable (Nexthop has invalid gateway)")
        assert isinstance(failed.value, LabError) and failed.value.errno == errno.ENETUNREACH

        # several failures in one buffer: the first is reported; the kernel still applied what followed it
        mixed = Batch(a)
        mixed.add_route("10.0.5.0/24", "10.0.0.2", 10)
        mixed.add_address(999, "10.0.0.1/24")
        mixed.add_route("fd00:9::/64", "fd09::1", 10)
        mixed.add_route("10.0.6.0/24", "10.0.0.2", 10)
        with pytest.raises(RequestFailed) as failed:
            rtnl.send(mixed)
        assert str(failed.value) == f"add address 10.0.0.1/24 dev index 999 in {a}: No such device (ipv4: Device not found)"
        assert {"10.0.5.0/24", "10.0.6.0/24"} <= {r["dst"] for r in routes(a)}
        assert "fd00:9::/64" not in {r["dst"] for r in routes(a)}

        again = Batch(a)
        again.add_address(10, "10.0.0.1/24")
        with pytest.raises(RequestFailed, match=r"File exists \(ipv4: Address already assigned\)$"):
            rtnl.send(again)
        fine = Batch(a)                         # the socket is still in step after failures
        fine.add_route("10.0.7.0/24", "10.0.0.2", 10)
        rtnl.send(fine)
        assert "10.0.7.0/24" in {r["dst"] for r in routes(a)}


def test_kernel_behaviours(namespaces):
    """Recorded here so that a kernel that changes them is noticed: a route out of an administratively down
    device is refused (IPv4 has no connected route to the gateway, IPv6 finds no route to it), one out of
    an up device without carrier is accepted and flagged linkdown (the veth's operstate is then DOWN); the peer's requested index is honoured
    only when the device's own index is requested too."""
    a, b = namespaces("a"), namespaces("b")
    with opened(b) as fd:
        with inside(a, RtnlSocket) as rtnl:
            setup = Batch(a)
            setup.add_veth("eth0", 10, "p0", 20, fd)
            setup.add_veth("eth1", 0, "p1", 21, fd)
            setup.add_address(10, "10.0.0.1/24")
            setup.add_address(10, "fd00::1/64")
            rtnl.send(setup)
            assert sorted(link["ifindex"] for link in ip(b, "link")) == [1, 2, 20]
            for dst, gateway, error in (("10.0.1.0/24", "10.0.0.2", errno.ENETUNREACH),
                                        ("fd00:1::/64", "fd00::2", errno.EHOSTUNREACH)):
                down = Batch(a)
                down.add_route(dst, gateway, 10)
                with pytest.raises(RequestFailed) as failed:
                    rtnl.send(down)
                assert failed.value.errno == error
            no_carrier = Batch(a)
            no_carrier.set_link(10, up=True)
            no_carrier.add_route("10.0.1.0/24", "10.0.0.2", 10)
            no_carrier.add_route("fd00:1::/64", "fd00::2", 10)
            rtnl.send(no_carrier)
            assert [r["flags"] for r in routes(a)] == [["linkdown"], ["linkdown"]]
            # DOWN, not LOWERLAYERDOWN: the kernel looks for the lower device (the peer) in eth0's namespace
            assert rtnl.operstates()[10] == Link("eth0", "DOWN")


def test_a_batch_larger_than_the_receive_buffer_is_sent_in_pieces(namespaces):
    a, b = namespaces("a"), namespaces("b")
    pair(a, b).close()
    with inside(a, lambda: RtnlSocket(rcvbuf=16384)) as rtnl:
        assert rtnl.max_acks <= 64
        many = Batch(a)
        for i in range(1000):
            many.add_route(f"172.{16 + i // 256}.{i % 256}.0/24", "10.0.0.2", 10, 20)
        rtnl.send(many)
        assert len(routes(a)) == 1000
        rtnl.send(many)
        assert len(routes(a)) == 1000

        failing = Batch(a)
        for i in range(300):
            failing.add_route(f"192.168.{i}.0/24" if i < 256 else f"192.169.{i % 256}.0/24",
                              "10.0.0.99" if i != 150 else "10.50.0.1", 10)
        with pytest.raises(RequestFailed, match=f"add route 192.168.150.0/24 via 10.50.0.1 dev index 10 in {a}: "):
            rtnl.send(failing)
        installed = {r["dst"] for r in routes(a)}
        assert "192.168.149.0/24" in installed and "192.169.43.0/24" not in installed  # later pieces: not sent


PAIRS, ROUTES = 100, 500


def build_fast(rtnl: RtnlSocket, peer_fd: int, ns: str) -> None:
    """PAIRS veth pairs (created, up, one address each) and ROUTES routes over them."""
    batch = Batch(ns)
    for i in range(PAIRS):
        batch.add_veth(f"v{i}", 100 + i, f"p{i}", 100 + i, peer_fd)
        batch.set_link(100 + i, up=True)
        batch.add_address(100 + i, f"10.1.{i}.1/24")
    for j in range(ROUTES):
        batch.add_route(f"172.{16 + j // 256}.{j % 256}.0/24", f"10.1.{j % PAIRS}.2", 100 + j % PAIRS, 20)
    rtnl.send(batch)


def build_pyroute2(ipr: IPRoute, peer_fd: int, ns: str) -> None:
    """The same requests through pyroute2, as labctl's runtime makes them (but with known indexes)."""
    for i in range(PAIRS):
        ipr.link("add", ifname=f"v{i}", index=100 + i, kind="veth",
                 peer={"ifname": f"p{i}", "index": 100 + i, "net_ns_fd": peer_fd})
        ipr.link("set", index=100 + i, state="up")
        ipr.addr("add", index=100 + i, address=f"10.1.{i}.1", prefixlen=24)
    for j in range(ROUTES):
        ipr.route("replace", dst=f"172.{16 + j // 256}.{j % 256}.0/24", gateway=f"10.1.{j % PAIRS}.2",
                  oif=100 + j % PAIRS, priority=20)


def test_faster_than_pyroute2(namespaces):
    """PAIRS veth pairs (created, set up, addressed) and ROUTES routes, the same requests both ways; prints
    the figures (pytest -s). The CPU split is this thread's (tick-sampled): system time is mostly the
    kernel's own work."""
    figures = {}
    for method, factory, build, dump in (
            ("pyroute2", IPRoute, build_pyroute2, lambda s: s.get_links()),
            ("netlink", RtnlSocket, build_fast, lambda s: s.operstates())):
        a, b = namespaces(f"{method[:2]}a"), namespaces(f"{method[:2]}b")
        with opened(b) as fd, inside(a, factory) as sock:
            before, start = resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()
            build(sock, fd, a)
            seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_THREAD)
            start = time.perf_counter()
            for _ in range(20):
                assert len(dump(sock)) == PAIRS + 1
            dumped = (time.perf_counter() - start) / 20
        assert len(routes(a)) == ROUTES and len(ip(b, "link")) == PAIRS + 1
        figures[method] = seconds
        requests = 3 * PAIRS + ROUTES
        print(f"\n{method}: {requests} requests in {seconds * 1000:.0f} ms = {requests / seconds:,.0f}/s "
              f"(user {after.ru_utime - before.ru_utime:.3f} s, system {after.ru_stime - before.ru_stime:.3f} s); "
              f"a dump of {PAIRS + 1} links {dumped * 1000:.2f} ms")
    assert figures["netlink"] < figures["pyroute2"]
