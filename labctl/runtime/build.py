"""Building a plan on the machine, and removing it again. Everything lives in the lab's own namespaces: veth
pairs are created straight into them and switches are bridges inside their own namespace, so the root namespace
never sees a lab interface. Each object made outside them is journaled as it is made; teardown removes exactly
what the journal names."""
from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator

from labctl import paths
from labctl.errors import LabError
from labctl.kernel import cgroups
from labctl.kernel.probe import probe
from labctl.needs import installed
from labctl.paths import netns_name, node_file
from labctl.plan import Plan
from labctl.runtime import impairments, services
from labctl.runtime.backend import Backend, KernelBackend, Veth
from labctl.runtime.state import Journal, LabState, already_up, claim, created, forget, load, save
from labctl.services import SERVICES

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
STAGES = ("namespaces", "links", "addresses and routes", "link shaping", "services")


def preflight(plan: Plan, backend: Backend) -> None:
    """Refuse a plan this machine cannot build, before anything is created: shaping the kernel cannot do,
    programs services need, names someone else already uses."""
    problems = impairments.check(plan, probe()) if any(link.is_shaped() for link in plan.links) else []
    missing: dict[str, list[str]] = defaultdict(list)
    for node in plan.nodes.values():
        for service in node.services:
            for program, package in SERVICES[service.name].programs.items():
                if not installed(program):
                    missing[f"{program} (Debian package {package}) for service {service.name}"].append(node.name)
    problems += [f"{what} on {', '.join(nodes)} is not installed: `make setup` installs it"
                 for what, nodes in missing.items()]
    if any(node.services for node in plan.nodes.values()) and cgroups.mount() is None:
        problems.append("services need cgroup v2, and no cgroup2 file system is mounted")
    if problems:
        raise LabError("this machine cannot build the lab:\n  " + "\n  ".join(problems) +
                       "\n  (`labctl doctor` lists what this machine has)")
    if paths.lab_dir(plan.name).exists():
        raise already_up(plan.name)
    taken = [netns_name(plan.name, n) for n in plan.nodes if backend.namespace_exists(netns_name(plan.name, n))]
    taken += [str(paths.ETC_NETNS / netns_name(plan.name, n)) for n in plan.nodes
              if (paths.ETC_NETNS / netns_name(plan.name, n)).exists()]
    if (group := cgroups.lab_group(plan.name)) and group.exists():
        taken.append(f"cgroup {group}")
    if taken:
        raise LabError(f"cannot build lab '{plan.name}': these names are taken by objects labctl did not make "
                       f"(or a crashed lab left: see `labctl clean`), and labctl leaves them alone: "
                       f"{', '.join(taken[:10])}{' ...' if len(taken) > 10 else ''}; pick another lab name with --name")


@contextmanager
def no_interrupt() -> Iterator[None]:
    """Let a teardown finish even if the user presses Ctrl-C again."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Builder:
    def __init__(self, plan: Plan, backend: Backend, state: LabState, journal: Journal, progress: Progress):
        self.plan, self.backend, self.state, self.journal, self.progress = plan, backend, state, journal, progress

    def ns(self, node: str) -> str:
        return netns_name(self.plan.name, node)

    def run(self) -> None:
        plan, nodes = self.plan, list(self.plan.nodes.values())
        first_etc = None
        for i, node in enumerate(nodes, 1):
            name = self.ns(node.name)
            self.backend.create_namespace(name, node.sysctls, self.journal.namespace)
            first_etc = self._etc_files(node.name, first_etc)
            self.progress(STAGES[0], i, len(nodes))
        veths: dict[str, list[Veth]] = defaultdict(list)
        for link in plan.links:
            (a, ifa), (b, ifb) = link.ends()
            veths[a].append(Veth(ifa, plan.node(a).interface(ifa).index, self.ns(b), ifb,
                                 plan.node(b).interface(ifb).index))
        for i, (node, pairs) in enumerate(veths.items(), 1):
            self.backend.add_veths(self.ns(node), pairs)
            self.progress(STAGES[1], i, len(veths))
        for i, node in enumerate(nodes, 1):
            self.backend.configure(self.ns(node.name), node)
            self.progress(STAGES[2], i, len(nodes))
        self.backend.wait_up({self.ns(n.name): [i.index for i in n.interfaces] for n in nodes})
        if group := cgroups.lab_group(plan.name):
            self.journal.cgroup(group)
            try:
                self.backend.group_create(group, exclusive=True)
            except LabError:
                self.journal.cgroup(group, taken=True)
                raise
        shaped = {i: link for i, link in enumerate(plan.links) if link.is_shaped()}
        if shaped:      # after the lab's cgroup: the link emulator, where it is needed, is a service of the lab
            impairments.shape_links(self.backend, plan.name, plan, self.state, shaped, probe())
            self.progress(STAGES[3], len(shaped), len(shaped))
        services.start_all(self.backend, plan.name, plan, self.state,
                           progress=lambda done, total: self.progress(STAGES[4], done, total))

    def _etc_files(self, node: str, first: str | None) -> str:
        """/etc/netns/<ns>/: the lab's files (hosts, resolv.conf), written once and hard-linked for the other
        nodes, which `ip netns exec` mounts over /etc. Returns the first node's name."""
        folder = paths.ETC_NETNS / self.ns(node)
        paths.ETC_NETNS.mkdir(exist_ok=True)
        self.journal.etc(folder)
        try:
            folder.mkdir()
        except FileExistsError:
            self.journal.etc(folder, taken=True)
            raise LabError(f"{folder} already exists (labctl did not make it)") from None
        for file in self.plan.files:
            path = node_file(self.plan.name, node, file.path)
            if first is None:
                path.write_text(file.content)
            else:
                os.link(node_file(self.plan.name, first, file.path), path)
        return first or node


def _raise_open_files_limit(plan: Plan) -> None:
    """Each namespace being built holds a descriptor and a netlink socket: allow what the plan needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * len(plan.nodes) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted,
                                                    hard))


def build(plan: Plan, progress: Progress = lambda *_: None, backend: Backend | None = None) -> LabState:
    """Create the lab; on any failure or Ctrl-C, remove what was created and re-raise."""
    backend = backend or KernelBackend()
    preflight(plan, backend)
    _raise_open_files_limit(plan)
    state, journal = claim(plan)
    try:
        Builder(plan, backend, state, journal, progress).run()
        state.status = "running"
        save(state)
        return state
    except BaseException as exc:
        log.debug("build of %s failed: %r; rolling back", plan.name, exc)
        backend.close()
        journal.close()
        with no_interrupt():
            try:
                destroy(plan.name, backend)
            except (LabError, OSError) as cleanup:      # said, but the build's own failure is the news
                log.error("rolling back lab %s: %s (`labctl clean` tries again)", plan.name, cleanup)
        if isinstance(exc, OSError):
            raise LabError(f"building lab '{plan.name}' failed: {exc}") from exc
        raise
    finally:
        backend.close()
        journal.close()


def destroy(lab: str, backend: Backend | None = None) -> None:
    """Stop the lab's services, then every process left in its cgroup and its namespaces, and remove what its
    journal names: namespaces (if still the ones it made), /etc/netns folders, cgroups; then its state."""
    backend = backend or KernelBackend()
    made = created(lab)
    try:
        state, plan = load(lab)
        services.stop_all(backend, lab, plan, state)
    except LabError as exc:          # unreadable state: the cgroup kill below still ends every service
        log.warning("%s", exc)
    for group in made.cgroups:
        backend.group_kill(group)
    backend.stop_processes_in({inode for inode in made.namespaces.values() if inode})
    for name, inode in made.namespaces.items():
        if not backend.remove_namespace(name, inode):
            log.warning("namespace %s is not the one lab %s made: left as it is", name, lab)
    for folder in made.etc:
        shutil.rmtree(folder, ignore_errors=True)
    for group in made.cgroups:
        backend.group_remove(group)
        cgroups.remove_if_empty(group.parent)
    forget(lab)
