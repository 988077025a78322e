"""Named network namespaces, created in-process (no `ip` or fork per namespace), like `ip netns add`."""
from __future__ import annotations

import ctypes
import errno
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pyroute2 import IPRoute

NETNS_DIR = Path("/run/netns")
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
def entered(path: str | Path) -> Iterator[None]:
    """Run the body with this thread inside the namespace at `path`; always come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(path, os.O_RDONLY)
    try:
        _check(_libc.setns(target, _CLONE_NEWNET), "setns", str(path))
        yield
    finally:
        os.close(target)
        _check(_libc.setns(home, _CLONE_NEWNET), "setns back from", str(path))
        os.close(home)


def write_sysctls(values: dict[str, str]) -> None:
    """Write /proc/sys/net values for the namespace this thread is in."""
    for key, value in values.items():
        Path("/proc/sys", key.replace(".", "/")).write_text(value)


def create(name: str, sysctls: dict[str, str]) -> IPRoute:
    """Create namespace `name`, apply `sysctls` in it, and return a netlink socket bound to it."""
    _prepare_dir()
    path = NETNS_DIR / name
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(_CLONE_NEWNET), "unshare", name)
        _check(_libc.mount(b"/proc/thread-self/ns/net", bytes(path), b"none", _MS_BIND, None), "mount", name)
        write_sysctls(sysctls)
        return IPRoute()
    except BaseException:
        _libc.umount2(bytes(path), _MNT_DETACH)
        path.unlink(missing_ok=True)
        raise
    finally:
        _check(_libc.setns(home, _CLONE_NEWNET), "setns back from", name)
        os.close(home)


def socket(name: str) -> IPRoute:
    """A netlink socket bound to existing namespace `name` (use it as a context manager to close it).

    The socket is opened from a short-lived thread, so this process's main thread never appears to be inside
    the lab: a concurrent `labctl down` kills every process it finds in the lab's namespaces."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_socket_in, NETNS_DIR / name).result()


def _socket_in(path: Path) -> IPRoute:
    with entered(path):
        return IPRoute()


def exists(name: str) -> bool:
    """True once the namespace is mounted (a crash can leave the bare mount-point file behind)."""
    return os.path.ismount(NETNS_DIR / name)


def inode(name: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except FileNotFoundError:
        return None


def pids_in(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one of `inodes`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino in inodes:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def stop_processes(pids: list[int], grace: float = 2.0) -> None:
    """SIGTERM these pids, then SIGKILL the ones still alive after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _alive(p)]
            time.sleep(0.02)
        pids = alive
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def remove(name: str) -> None:
    path = NETNS_DIR / name
    if _libc.umount2(bytes(path), _MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        raise OSError(ctypes.get_errno(), f"umount {path}")
    path.unlink(missing_ok=True)
