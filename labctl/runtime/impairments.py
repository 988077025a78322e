"""Shaping a lab's links, at bring-up and on `impair`: each direction placed on a back end (impair.choose), the
kernel's qdiscs applied, and the emulator's side kept in step: its pipes written to its configuration, the NFQUEUE
rules that hand it their packets set in each namespace concerned, and the emulator itself (a service of the lab,
in its cgroup) started, told to reload, or stopped. The state records how every direction is shaped."""
from __future__ import annotations

import json
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

from labctl.errors import LabError
from labctl.impair import choose
from labctl.kernel.probe import Capabilities
from labctl.paths import netns_name, service_dir
from labctl.plan import LinkPlan, Plan, ServicePlan, Shaping
from labctl.runtime import services
from labctl.runtime.backend import Backend
from labctl.runtime.state import LabState, ShapedDirection

EMULATOR = "link-emulator"
RELOAD_TIMEOUT_S = 5.0


def folder(lab: str) -> Path:
    return service_dir(lab, None, EMULATOR)


def emulator_counters(lab: str) -> dict[str, str]:
    """What each of the emulator's pipes ('r1 -> r2') has seen, as its last stats file says; empty without one."""
    try:
        stats = json.loads((folder(lab) / "stats.json").read_text())
    except (OSError, ValueError):
        return {}
    return {name: f"{c['implementation']}: {c['arrived']} packets in, {c['released']} out, "
                  f"{c['lost'] + c['overflow'] + c['aqm']} dropped ({c['lost']} lost, {c['overflow']} queue full, "
                  f"{c['aqm']} by AQM), {c['queue_packets']} queued (at most {c['max_queue_packets']})"
            for name, c in stats.items()}


def check(plan: Plan, caps: Capabilities) -> list[str]:
    """Why links of the plan cannot be shaped on this machine (empty if they all can)."""
    problems = []
    for link in plan.links:
        try:
            choose.place(plan, link, caps, plan.impair_backend)
        except LabError as exc:
            problems.append(str(exc))
    return problems


def shape_links(backend: Backend, lab: str, plan: Plan, state: LabState, links: dict[int, LinkPlan],
                caps: Capabilities) -> None:
    """Shape these links (index -> the link with its conditions) as they say, replacing how they were shaped."""
    emulated_before = {d.node for ds in state.shaped.values() for d in ds if d.backend == "emulator"}
    for index, link in links.items():
        placed = choose.place(plan, link, caps, plan.impair_backend)
        for old in state.shaped.pop(index, []):
            if old.backend == "kernel":
                backend.shape(netns_name(lab, old.node), old.ifname, Shaping())
        for shaping, where in placed:
            if where.backend == "kernel":
                backend.shape(netns_name(lab, where.node), where.ifname, shaping)
        state.shaped[index] = [ShapedDirection(shaping=shaping, **vars(where)) for shaping, where in placed]
        if link != plan.links[index] or index in state.impairments:
            state.impairments[index] = link
    emulated = [d for ds in state.shaped.values() for d in ds if d.backend == "emulator"]
    if emulated or emulated_before:
        _sync_emulator(backend, lab, plan, state, emulated, emulated_before | {d.node for d in emulated})


def _sync_emulator(backend: Backend, lab: str, plan: Plan, state: LabState, emulated: list[ShapedDirection],
                   nodes: set[str]) -> None:
    """The emulator runs exactly the emulated directions: bound to their queues before the rules send packets
    there, and told to drop a pipe only once no rule sends it packets."""
    per_node: dict[str, list[ShapedDirection]] = defaultdict(list)
    for direction in emulated:
        direction.queue = len(per_node[direction.node])
        per_node[direction.node].append(direction)
    running = EMULATOR in state.lab_services and backend.running(state.service(None, EMULATOR).pid,
                                                                 services.group(lab, None, EMULATOR))
    rules = {node: [(d.hook, d.ifname, d.queue, plan.node(node).kind == "switch") for d in per_node.get(node, [])]
             for node in nodes}
    if not emulated:
        for node, node_rules in rules.items():
            backend.queue_rules(netns_name(lab, node), node_rules)
        if running:
            services.stop_level(backend, lab, [(None, state.lab_services[EMULATOR])], state)
        state.lab_services.pop(EMULATOR, None)
        return
    generation = _write_config(lab, emulated)
    if running:
        _reload(backend, lab, state, generation)
    else:                                   # not yet, or it failed: a fresh one
        emulator = _service(lab)
        state.lab_services[EMULATOR] = emulator
        services.start_level(backend, lab, [(None, emulator)], state)
    for node, node_rules in rules.items():
        backend.queue_rules(netns_name(lab, node), node_rules)


def _write_config(lab: str, emulated: list[ShapedDirection]) -> int:
    """The emulator's configuration, a new generation of it; returns the generation."""
    path = folder(lab) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    generation = json.loads(path.read_text())["generation"] + 1 if path.exists() else 1
    config = {"generation": generation, "ready": str(folder(lab) / "ready"), "stats": str(folder(lab) / "stats.json"),
              "pipes": [{"namespace": netns_name(lab, d.node), "queue": d.queue, "name": f"{d.sender} -> {d.receiver}",
                         "shaping": d.shaping.model_dump()} for d in emulated]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=1))
    tmp.replace(path)
    return generation


def _service(lab: str) -> ServicePlan:
    config = folder(lab) / "config.json"
    return ServicePlan(name=EMULATOR, command=[sys.executable, "-m", "labctl", "emulate", str(config)],
                       health=["test", "-s", str(folder(lab) / "ready")], stop_signal="TERM")


def _reload(backend: Backend, lab: str, state: LabState, generation: int) -> None:
    """SIGHUP, then wait until the emulator says it runs this generation."""
    pid = state.service(None, EMULATOR).pid
    if not backend.signal(pid, services.group(lab, None, EMULATOR), signal.SIGHUP):
        raise LabError(f"the link emulator (pid {pid}) is not running; its log ends:\n"
                       f"{services.log_tail(lab, None, EMULATOR)}")
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    ready = folder(lab) / "ready"
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip() == str(generation):
            return
        time.sleep(0.01)
    raise LabError(f"the link emulator did not take its new configuration within {RELOAD_TIMEOUT_S:g} s; its log "
                   f"ends:\n{services.log_tail(lab, None, EMULATOR)}")
