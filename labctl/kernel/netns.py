"""Named network namespaces, created in-process (no `ip` or fork per namespace), like `ip netns add`, and
pyroute2 sockets bound to them whose netlink errors are LabErrors."""
from __future__ import annotations

import ctypes
import errno
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELQDISC,
    RTM_DELROUTE,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWQDISC,
    RTM_NEWROUTE,
    RTM_NEWTCLASS,
    RTM_SETLINK,
)

from labctl.errors import LabError
from labctl.kernel.netlink import RequestFailed
from labctl.paths import NETNS_DIR

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_MS_BIND, _MS_REC, _MS_SHARED, _MNT_DETACH = 4096, 16384, 1 << 20, 2


def _check(result: int, what: str, name: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} {name}: {os.strerror(err)}")


def _prepare_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does, so namespaces are visible to every tool."""
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    if _libc.mount(b"", bytes(NETNS_DIR), b"none", _MS_SHARED | _MS_REC, None) != 0:
        _check(_libc.mount(bytes(NETNS_DIR), bytes(NETNS_DIR), b"none", _MS_BIND | _MS_REC, None), "bind", "/run/netns")
        _check(_libc.mount(b"", bytes(NETNS_DIR), b"none", _MS_SHARED | _MS_REC, None), "share", "/run/netns")


@contextmanager
def entered(target: str | os.PathLike | int) -> Iterator[None]:
    """Run the body with this thread inside the namespace at `target` (a path or an open fd); always come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = target if isinstance(target, int) else os.open(target, os.O_RDONLY)
    try:
        _check(_libc.setns(fd, _CLONE_NEWNET), "setns", str(target))
        yield
    finally:
        if fd is not target:
            os.close(fd)
        _check(_libc.setns(home, _CLONE_NEWNET), "setns back from", str(target))
        os.close(home)


def write_sysctls(values: dict[str, str]) -> None:
    """Write /proc/sys/net values for the namespace this thread is in."""
    for key, value in values.items():
        fd = os.open("/proc/sys/" + key.replace(".", "/"), os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)


@dataclass
class Namespace:
    name: str
    inode: int          # what identifies it as the one labctl made
    fd: int             # open: for setns and for creating interfaces straight into it


def create(name: str, sysctls: dict[str, str],
           record: Callable[[str, int | None], None] = lambda *_: None) -> Namespace:
    """Create namespace `name` (refusing to reuse an existing name) and apply `sysctls` in it. So that whatever a
    crash leaves can be found again and told apart from anyone else's (see remove), `record(name, inode)` is
    called before the name is taken (inode None), once it is taken, before the namespace is mounted on it (its
    inode), or when someone else holds it after all (0)."""
    _prepare_dir()
    path = NETNS_DIR / name
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(_CLONE_NEWNET), "unshare", name)
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            record(name, None)
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        except FileExistsError:
            os.close(fd)
            record(name, 0)
            raise LabError(f"a network namespace named '{name}' already exists (labctl did not make it)") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            record(name, os.fstat(fd).st_ino)
            _check(_libc.mount(b"/proc/thread-self/ns/net", bytes(path), b"none", _MS_BIND, None), "mount", name)
            write_sysctls(sysctls)
        except BaseException:
            os.close(fd)
            _libc.umount2(bytes(path), _MNT_DETACH)
            path.unlink(missing_ok=True)
            raise
        return Namespace(name, os.fstat(fd).st_ino, fd)
    finally:
        _check(_libc.setns(home, _CLONE_NEWNET), "setns back from", name)
        os.close(home)


def inode(name: str) -> int | None:
    """The inode of the mounted namespace `name`, or None if there is none."""
    path = NETNS_DIR / name
    return os.stat(path).st_ino if os.path.ismount(path) else None


def exists(name: str) -> bool:
    """True if anything, mounted or not, holds the name."""
    return os.path.lexists(NETNS_DIR / name)


def remove(name: str, expected_inode: int | None) -> bool:
    """Remove namespace `name` if it is the one with `expected_inode`, or if the name holds only the empty,
    unmounted file create() makes before mounting (a crash came in between; expected_inode None: a crash during
    its making). False, and nothing done, if not."""
    path = NETNS_DIR / name
    if expected_inode != 0 and not os.path.ismount(path) and os.path.isfile(path) and os.path.getsize(path) == 0:
        path.unlink()
        return True
    if expected_inode is None or inode(name) != expected_inode:
        return False
    if _libc.umount2(bytes(path), _MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        raise OSError(ctypes.get_errno(), f"umount {path}")
    path.unlink(missing_ok=True)
    return True


_REQUESTS = {RTM_NEWLINK: "creating or changing a link", RTM_SETLINK: "changing a link", RTM_DELLINK: "deleting a link",
             RTM_GETLINK: "reading links", RTM_NEWADDR: "adding an address", RTM_DELADDR: "removing an address",
             RTM_GETADDR: "reading addresses", RTM_NEWROUTE: "adding a route", RTM_DELROUTE: "removing a route",
             RTM_GETROUTE: "reading routes", RTM_NEWQDISC: "setting a qdisc", RTM_DELQDISC: "removing a qdisc",
             RTM_NEWTCLASS: "setting a traffic class"}


class Socket(IPRoute):
    """pyroute2's IPRoute inside a namespace: a refused request raises RequestFailed naming the namespace, what
    was asked and why; `index()` finds an interface or says it is missing."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        super().__init__()

    def nlm_request(self, msg, msg_type, *args, **kwargs):
        try:
            yield from super().nlm_request(msg, msg_type, *args, **kwargs)
        except NetlinkError as exc:
            said = exc.args[1] if len(exc.args) > 1 and exc.args[1] != os.strerror(exc.code) else ""
            where = f" on interface {msg['index']}" if "index" in msg and msg["index"] else ""
            raise RequestFailed(f"{self.namespace}: {_REQUESTS.get(msg_type, 'a netlink request')}{where} failed",
                                exc.code, said) from None

    def index(self, ifname: str) -> int:
        found = self.link_lookup(ifname=ifname)
        if not found:
            raise LabError(f"{self.namespace} has no interface {ifname}")
        return found[0]


def socket(name: str) -> Socket:
    """A Socket bound to existing namespace `name` (use it as a context manager to close it).

    The socket is opened from a short-lived thread, so this process's main thread never appears to be inside
    the lab (a concurrent `labctl down` stops the processes it finds in the lab's namespaces)."""
    if inode(name) is None:
        raise LabError(f"network namespace {name} does not exist")
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_socket_in, name).result()


def _socket_in(name: str) -> Socket:
    with entered(NETNS_DIR / name):
        return Socket(name)
