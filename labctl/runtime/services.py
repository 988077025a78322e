"""A lab's services at run time: started level by level (a service after those it names in `after`), each in
its node's namespace and in a cgroup of its own, and waited for until healthy; stopped in reverse order, then
whatever is left in their cgroups killed; and asked how each one is doing."""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import LabError
from labctl.kernel import cgroups
from labctl.paths import netns_name, node_file, service_dir
from labctl.paths import service_log as log_path
from labctl.plan import Plan, ServicePlan
from labctl.runtime.backend import Backend
from labctl.runtime.state import LabState, save

LOG_TAIL = 20           # lines of a service's log shown when it fails


def group(lab: str, node: str | None, name: str | None = None) -> Path:
    """The cgroup of a service, or of the node's other processes (`labctl exec`, `shell`). A service of the lab
    itself (node None: the link emulator) has its group right in the lab's."""
    base = cgroups.lab_group(lab)
    if base is None:
        raise LabError("services need cgroup v2, and no cgroup2 file system is mounted "
                       "(mount -t cgroup2 none /sys/fs/cgroup/unified)")
    return (base / node if node else base) / (f"{name}.service" if name else "exec.scope")


def _namespace(lab: str, node: str | None) -> str | None:
    """Where a service runs: its node's namespace, or the machine's own for a service of the lab (None)."""
    return netns_name(lab, node) if node else None


def where(node: str | None) -> str:
    return f"on {node}" if node else "of the lab"


def _status_path(lab: str, node: str | None, name: str) -> Path:
    return service_dir(lab, node, name) / "exit-status"


def exit_status(lab: str, node: str | None, name: str) -> int | None:
    """How the service's last run ended (128 + N for signal N), or None if it has not ended."""
    try:
        return int(_status_path(lab, node, name).read_text())
    except (FileNotFoundError, ValueError):
        return None


def log_tail(lab: str, node: str | None, name: str, lines: int = LOG_TAIL) -> str:
    try:
        text = log_path(lab, node, name).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) or "(empty log)"


def _write_files(lab: str, node: str | None, service: ServicePlan) -> None:
    folder = service_dir(lab, node, service.name)
    folder.mkdir(parents=True, exist_ok=True)
    for part in [folder, *folder.parents][:4]:       # readable by daemons that drop privileges (nginx workers)
        part.chmod(0o755)
    for file in service.files:
        path = node_file(lab, node, file.path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_text(file.content)
        path.chmod(0o755 if file.executable else 0o644)
    log_path(lab, node, service.name).touch()
    if service.user:                                 # its daemons write their own logs into its folder
        for path in [folder, *folder.rglob("*")]:
            shutil.chown(path, service.user, service.user)


def _make_runtime_dirs(service: ServicePlan) -> None:
    for path in map(Path, service.runtime_dirs):
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
        if service.user:
            shutil.chown(path, service.user, service.user)


def _remove_runtime_dirs(service: ServicePlan) -> None:
    for path in service.runtime_dirs:
        shutil.rmtree(path, ignore_errors=True)


def start(backend: Backend, lab: str, node: str | None, service: ServicePlan, state: LabState) -> None:
    """Start one service (its files written first); its pid goes into the state."""
    _write_files(lab, node, service)
    cgroup = group(lab, node, service.name)
    backend.group_create(cgroup)
    if backend.group_pids(cgroup):
        raise LabError(f"service {service.name} {where(node)} still has processes running; stop it first")
    _status_path(lab, node, service.name).unlink(missing_ok=True)
    _make_runtime_dirs(service)
    with log_path(lab, node, service.name).open("a") as log:
        log.write(f"--- labctl: starting {service.name} at {time.strftime('%H:%M:%S')}: {' '.join(service.command)}\n")
    entry = state.service(node, service.name)
    entry.pid = backend.spawn(_namespace(lab, node), cgroup, service.command, log_path(lab, node, service.name),
                              _status_path(lab, node, service.name))
    entry.started, entry.stopped = time.time(), False


def wait_healthy(backend: Backend, lab: str, node: str | None, service: ServicePlan,
                 give_up: threading.Event | None = None) -> None:
    """Run the health check until it passes; fail, with the end of the service's log, if the service exits or
    the time runs out first. Returns early once `give_up` is set (another service failed, or Ctrl-C)."""
    deadline = time.monotonic() + service.ready_timeout_s
    give_up = give_up or threading.Event()
    while not give_up.is_set():
        if (code := exit_status(lab, node, service.name)) is not None:
            raise LabError(f"service {service.name} {where(node)} exited with status {code} while starting; "
                           f"its log ends:\n{log_tail(lab, node, service.name)}")
        status, output = backend.run(_namespace(lab, node), service.health, timeout=2.0)
        if status == 0:
            return
        if time.monotonic() > deadline:
            raise LabError(f"service {service.name} {where(node)} is not healthy after {service.ready_timeout_s:g} s "
                           f"(`{' '.join(service.health)}` exits {status}: {output.strip()[-200:]}); its log ends:\n"
                           f"{log_tail(lab, node, service.name)}")
        give_up.wait(0.05)


Level = list[tuple[str, ServicePlan]]


def start_level(backend: Backend, lab: str, level: Level, state: LabState, progress=lambda: None) -> None:
    """Start these services together, then wait until each is healthy."""
    for node, service in level:
        start(backend, lab, node, service, state)
    save(state)
    give_up = threading.Event()
    with ThreadPoolExecutor(max_workers=8) as pool:
        try:
            for done in as_completed([pool.submit(wait_healthy, backend, lab, node, service, give_up)
                                      for node, service in level]):
                done.result()               # the first to fail fails the level, without waiting for the others
                progress()
        except BaseException:
            give_up.set()                   # the others stop waiting: the lab is being rolled back
            raise


def start_all(backend: Backend, lab: str, plan: Plan, state: LabState, nodes: list[str] | None = None,
              progress=lambda done, total: None) -> None:
    """Start the services of `nodes` (default: all), level by level, each level healthy before the next."""
    levels = plan.service_levels(nodes)
    total, done = sum(map(len, levels)), itertools.count(1)
    for level in levels:
        start_level(backend, lab, level, state, lambda: progress(next(done), total))


def stop_level(backend: Backend, lab: str, level: Level, state: LabState) -> None:
    """Ask these services to stop, give each its stop timeout, then kill whatever is left in their cgroups.
    Marked stopped in the state."""
    # stop commands wait for their daemons (FRR's takes 3 s): all of a level's at once, they only sleep
    with ThreadPoolExecutor(max_workers=min(64, max(1, len(level)))) as pool:
        stopping = list(pool.map(lambda item: _ask_to_stop(backend, lab, *item, state), level))
    asked = {(node, service.name): (state.service(node, service.name).pid, time.monotonic() + service.stop_timeout_s)
             for (node, service), ask in zip(level, stopping) if ask}
    while asked:                             # each gets its own stop timeout, all counted from now
        asked = {key: (pid, deadline) for key, (pid, deadline) in asked.items()
                 if backend.running(pid, group(lab, *key)) and time.monotonic() < deadline}
        time.sleep(0.02 if asked else 0)
    for node, service in level:
        backend.group_kill(group(lab, node, service.name))
        _remove_runtime_dirs(service)
        entry = state.service(node, service.name)
        entry.stopped, entry.pid = True, None
    save(state)


def stop_all(backend: Backend, lab: str, plan: Plan, state: LabState, nodes: list[str] | None = None) -> None:
    """Stop the services of `nodes` (default: all, and then the lab's own) in reverse start order."""
    for level in reversed(plan.service_levels(nodes)):
        stop_level(backend, lab, level, state)
    if nodes is None and state.lab_services:
        stop_level(backend, lab, [(None, s) for s in state.lab_services.values()], state)


def _ask_to_stop(backend: Backend, lab: str, node: str | None, service: ServicePlan, state: LabState) -> bool:
    """Its package's stop command, or its stop signal; False if it is not running."""
    pid = state.service(node, service.name).pid
    if pid is None or not backend.running(pid, group(lab, node, service.name)):
        return False
    if service.stop_command:
        backend.run(_namespace(lab, node), service.stop_command, timeout=service.stop_timeout_s)
        return True
    return backend.signal(pid, group(lab, node, service.name), getattr(signal, f"SIG{service.stop_signal}"))


@dataclass
class ServiceStatus:
    node: str | None             # None: a service of the lab (the link emulator)
    name: str
    state: str                   # not started, running, stopped, failed
    pid: int | None
    exit_status: int | None
    since: float | None          # when it was started

    def describe(self) -> str:
        """'running (pid 123)', 'stopped', 'failed (exit 1)', 'failed (killed by signal 9)'."""
        if self.state == "running":
            return f"running (pid {self.pid})"
        code = self.exit_status
        how = "" if code is None else f" (killed by signal {code - 128})" if code > 128 else f" (exit {code})"
        return self.state + how


def all_services(plan: Plan, state: LabState) -> list[tuple[str | None, ServicePlan]]:
    """The nodes' services, then those the lab runs itself (started when needed: the link emulator)."""
    return [(n.name, s) for n in plan.nodes.values() for s in n.services] + \
        [(None, s) for s in state.lab_services.values()]


def status(backend: Backend, lab: str, plan: Plan, state: LabState) -> list[ServiceStatus]:
    found = []
    for node, service in all_services(plan, state):
        entry = state.service(node, service.name)
        code = exit_status(lab, node, service.name)
        if entry.pid and backend.running(entry.pid, group(lab, node, service.name)):
            what = "running"
        elif entry.started is None:
            what = "not started"
        else:
            what = "stopped" if entry.stopped else "failed"
        found.append(ServiceStatus(node, service.name, what, entry.pid if what == "running" else None, code,
                                   entry.started))
    return found


def join_exec_scope(lab: str, node: str) -> None:
    """Move this process into the node's exec scope (before it execs a command there: `labctl exec`, `shell`),
    so that `down` ends the command and what it starts. Without the lab's cgroup (no cgroup v2), nothing: `down`
    still finds such processes in the lab's namespaces."""
    if (base := cgroups.lab_group(lab)) and base.is_dir():
        path = group(lab, node)
        path.mkdir(parents=True, exist_ok=True)
        cgroups.join(path, os.getpid())
