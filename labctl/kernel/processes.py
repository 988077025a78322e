"""Finding and stopping processes, by pid: those inside given network namespaces, those in a cgroup."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def in_namespaces(inodes: set[int]) -> list[int]:
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


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie does not count; a child of ours is reaped)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to `timeout` seconds for the pids to end; returns those still alive."""
    deadline = time.monotonic() + timeout
    alive_now = [p for p in pids if alive(p)]
    while alive_now and time.monotonic() < deadline:
        time.sleep(0.02)
        alive_now = [p for p in alive_now if alive(p)]
    return alive_now


def stop(pids: list[int], grace: float = 2.0) -> None:
    """SIGTERM these pids, then SIGKILL the ones still alive after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        sent = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                sent.append(pid)
            except ProcessLookupError:
                pass
        pids = wait_gone(sent, grace)
        if not pids:
            return


def run(argv: list[str], timeout: float, stderr: int = subprocess.PIPE) -> subprocess.CompletedProcess:
    """Run a command and wait for it, as subprocess.run does (TimeoutExpired after `timeout`), in a session of
    its own: on a timeout or Ctrl-C its whole process group is killed, what it started in the background too
    (which would otherwise keep its output open), and it is reaped."""
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True,
                          start_new_session=True) as process:
        try:
            stdout, err = process.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, err)
