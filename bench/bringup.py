"""Bring-up and teardown of one ~500-node lab, three ways side by side: labctl, the raw kernel floor (`ip -batch`)
and Mininet 2.3. Needs root. `make bench`, or `.venv/bin/python bench/bringup.py --nodes 100 --skip-mininet`
for a quick run. What each figure means: bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable

import floor
import mininet_build
import observe
from rich.console import Console
from rich.table import Table

from labctl.kernel import netns
from labctl.paths import STATE_DIR, netns_name
from labctl.plan import Plan
from labctl.runtime import lab
from labctl.topology import compile_plan
from labctl.topology.schema import Topology

LAB = "bench"                   # labctl's namespaces: bench.<node>
FLOOR_PREFIX = "benchfloor"     # the floor's namespaces: benchfloor.<node>
TARGET_RATIO = 1.5              # labctl bring-up within 1.5x the floor
TARGET_TEARDOWN_S = 3.0


def shape(nodes: int) -> tuple[int, int]:
    """(edge routers, hosts per edge) for about `nodes` nodes: 500 -> 20 edges of 23 hosts = 501 nodes."""
    edges = max(2, round(nodes / 25))
    return edges, max(1, round((nodes - 1 - 2 * edges) / edges))


def campus(edges: int, hosts: int, name: str = LAB) -> Topology:
    """One core router; each edge router links to it and to its own switch, which has `hosts` hosts."""
    nodes: dict[str, dict] = {"core": {"kind": "router"}}
    links: list[list[str]] = []
    for e in range(1, edges + 1):
        nodes[f"e{e}"] = {"kind": "router"}
        nodes[f"sw{e}"] = {"kind": "switch"}
        links += [["core", f"e{e}"], [f"e{e}", f"sw{e}"]]
        for h in range(1, hosts + 1):
            nodes[f"h{e}_{h}"] = {"kind": "host"}
            links.append([f"h{e}_{h}", f"sw{e}"])
    return Topology.model_validate({"name": name, "nodes": nodes, "links": links})


@dataclass
class Ping:
    src: str
    dst: str
    address: str
    ok: bool
    tries: int


@dataclass
class Sample:
    up_s: float
    down_s: float
    released_s: float | None            # from the start of teardown until the kernel destroyed the namespaces
    phases: dict[str, float]            # bring-up steps, seconds
    cpu_s: float | None                 # CPU (user + system) the bring-up cost the method's own processes
    memory_kib: dict[str, int]          # the whole lab, from /proc/meminfo: MemAvailable, Slab, Percpu consumed
    process_kib: dict[str, int] = field(default_factory=dict)   # userspace memory the method keeps


@dataclass
class MethodResult:
    key: str
    label: str
    samples: list[Sample] = field(default_factory=list)
    pings: list[Ping] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def median(self, get: Callable[[Sample], float | None]) -> float | None:
        values = [v for v in map(get, self.samples) if v is not None]
        return statistics.median(values) if values else None

    def summary(self, nodes: int) -> dict:
        mem = {k: self.median(lambda s, k=k: s.memory_kib[k]) for k in observe.MEMORY_KEYS}
        proc_keys = sorted({k for s in self.samples for k in s.process_kib})
        return {
            "up_s": self.median(lambda s: s.up_s),
            "down_s": self.median(lambda s: s.down_s),
            "released_s": self.median(lambda s: s.released_s),
            "cpu_s": self.median(lambda s: s.cpu_s),
            "memory_per_node_kib": {k: round(v / nodes, 1) for k, v in mem.items() if v is not None},
            "process_kib": {k: self.median(lambda s, k=k: s.process_kib.get(k)) for k in proc_keys},
            "pings_ok": sum(p.ok for p in self.pings), "pings": len(self.pings),
        }


def host_address(plan: Plan, node: str) -> str:
    return plan.nodes[node].interfaces[0].ipv4.split("/")[0]


def ping_pairs(plan: Plan, routed: bool) -> list[tuple[str, str, str]]:
    """(source node, target label, address): across routers if `routed`, else within the first LAN."""
    hosts = [n.name for n in plan.nodes.values() if n.kind == "host"]
    first, second, last = hosts[0], hosts[1] if len(hosts) > 1 else hosts[0], hosts[-1]
    if routed:
        return [(first, last, host_address(plan, last)),
                (first, "core loopback", plan.nodes["core"].loopback[0].split("/")[0]),
                (last, second, host_address(plan, second))]
    gateway = next(r.via for r in plan.nodes[first].routes if r.dst == "default")
    pairs = [(first, "gateway", gateway)]
    if second != first and any(r.via == gateway for r in plan.nodes[second].routes):
        pairs.append((first, second, host_address(plan, second)))
    return pairs


def ping(pairs: list[tuple[str, str, str]], attempt: Callable[[str, str], bool], tries: int = 3) -> list[Ping]:
    results = []
    for src, dst, address in pairs:
        for n in range(1, tries + 1):
            if attempt(src, address):
                results.append(Ping(src, dst, address, True, n))
                break
        else:
            results.append(Ping(src, dst, address, False, tries))
    return results


def ping_in_namespace(ns: str, address: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c1", "-W2", address],
                          capture_output=True).returncode == 0


def run_labctl(plan: Plan, watcher: observe.ReleaseWatcher, check: bool) -> tuple[Sample, list[Ping]]:
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if done == total:
            marks[phase] = time.perf_counter()

    before, rss_before = observe.meminfo(), observe.rss_kib()
    cpu0, t0 = observe.cpu_s("self"), time.perf_counter()
    lab.up(plan, progress)
    up, cpu = time.perf_counter() - t0, observe.cpu_s("self") - cpu0
    try:
        after, rss_after = observe.meminfo(), observe.rss_kib()
        pings = ping(ping_pairs(plan, routed=True), lambda n, a: ping_in_namespace(f"{LAB}.{n}", a)) if check else []
        for node in plan.nodes:
            watcher.watch_path(netns.NETNS_DIR / netns_name(plan.name, node))
        watcher.arm()
    finally:
        t1 = time.perf_counter()
        lab.down(plan.name)
        down = time.perf_counter() - t1
    released = watcher.wait()
    phases, last = {}, t0
    for phase, mark in marks.items():
        phases[phase], last = mark - last, mark
    phases["wait for carrier"] = t0 + up - last
    return Sample(up, down, released and released - t1, phases, cpu, observe.memory_used(before, after),
                  {"rss_growth": rss_after - rss_before, "rss": rss_after}), pings


def run_floor(plan: Plan, watcher: observe.ReleaseWatcher, check: bool) -> tuple[Sample, list[Ping]]:
    build = floor.Floor(plan, FLOOR_PREFIX)
    try:
        before = observe.meminfo()
        cpu0, t0 = observe.cpu_s("children"), time.perf_counter()
        phases = build.up()
        up, cpu = time.perf_counter() - t0, observe.cpu_s("children") - cpu0
        after = observe.meminfo()
        pings = ping(ping_pairs(plan, routed=False), lambda n, a: ping_in_namespace(build.ns(n), a)) if check else []
        for ns in build.namespaces:
            watcher.watch_path(netns.NETNS_DIR / ns)
        watcher.arm()
        t1 = time.perf_counter()
        build.down()
        down = time.perf_counter() - t1
    except BaseException:
        build.remove_leftovers()
        raise
    finally:
        build.close()
    released = watcher.wait()
    return Sample(up, down, released and released - t1, phases, cpu, observe.memory_used(before, after)), pings


def run_mininet(plan: Plan, watcher: observe.ReleaseWatcher) -> tuple[Sample, list[Ping], list[str]]:
    """One build; returns the sample, the pings, and the root-namespace interfaces net.stop() left behind
    (deleted here by exact name)."""
    names = mininet_build.root_names(plan)
    build = mininet_build.MininetBuild(plan)
    before, rss_before = observe.meminfo(), observe.rss_kib()
    t0 = time.perf_counter()
    try:
        phases = build.up()
        up = time.perf_counter() - t0
        after, rss_after = observe.meminfo(), observe.rss_kib()
        shells = observe.pss_kib(build.shell_pids())
        pings = ping(ping_pairs(plan, routed=True), build.ping)
        for pid in build.namespace_pids():
            watcher.watch_pid(pid)
        watcher.arm()
    finally:
        t1 = time.perf_counter()
        try:
            build.down()
        finally:
            down = time.perf_counter() - t1
            leftovers = observe.delete_root_links(names & observe.root_links())
    released = watcher.wait()
    # no CPU figure: the `ip` processes run under the node shells, which are not reaped until net.stop()
    return Sample(up, down, released and released - t1, phases, None, observe.memory_used(before, after),
                  {"rss_growth": rss_after - rss_before, "node_shells_pss": shells}), pings, leftovers


def our_namespaces() -> set[str]:
    prefixes = (f"{LAB}.", f"{FLOOR_PREFIX}.", "bench-sentinel-")
    return {ns for ns in observe.named_namespaces() if ns.startswith(prefixes)}


def preflight(plan: Plan, mininet: bool) -> None:
    """Refuse to start unless every name this run will create is free: it never touches what it did not make."""
    if os.geteuid() != 0:
        raise SystemExit("bench/bringup.py needs root (it creates network namespaces)")
    if (STATE_DIR / LAB).exists():
        raise SystemExit(f"a lab named '{LAB}' is up (maybe from an interrupted run): `labctl down {LAB}` first")
    if spaces := our_namespaces():
        raise SystemExit(f"namespaces from an earlier run exist ({', '.join(sorted(spaces)[:3])}, ...): "
                         "remove them with `ip netns del NAME` first")
    if mininet and (clash := mininet_build.root_names(plan) & observe.root_links()):
        raise SystemExit(f"root-namespace interfaces with the Mininet build's names exist: {sorted(clash)[:5]}")


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f} {unit}"


def render(console: Console, report: dict, results: list[MethodResult]) -> None:
    nodes = report["nodes"]
    table = Table(title=f"Bring-up and teardown of {nodes} nodes, {report['links']} links "
                        f"(median of {report['repeat']} for labctl and floor, 1 for Mininet)")
    for column in ("method", "bring-up", "CPU [1]", "teardown", "released [2]", "mem/node [3]",
                   "slab/node", "user mem [4]", "pings"):
        table.add_column(column, justify="left" if column in ("method", "pings") else "right")
    for result in results:
        if result.skipped:
            continue
        s = report["methods"][result.key]
        mem, proc = s["memory_per_node_kib"], s["process_kib"]
        user = (proc.get("rss_growth") or 0) + (proc.get("node_shells_pss") or 0)
        table.add_row(result.label, fmt(s["up_s"]), fmt(s["cpu_s"]), fmt(s["down_s"]), fmt(s["released_s"]),
                      fmt(mem.get("available"), "KiB", 0), fmt(mem.get("slab"), "KiB", 0),
                      fmt(user / 1024, "MiB", 1) if proc else "-",
                      f"{s['pings_ok']}/{s['pings']}" + (" same LAN" if result.key == "floor" else ""))
    console.print(table)
    for result in results:
        if result.skipped:
            console.print(f"{result.label}: skipped ({result.skipped})", markup=False, highlight=False)
    console.print("[1] CPU time of the bring-up in the method's own processes (labctl: this one; floor: its ip "
                  "processes): less disturbed by other load than wall time\n"
                  "[2] from the start of teardown until the kernel has destroyed every namespace (RTM_DELNSID)\n"
                  "[3] /proc/meminfo MemAvailable consumed by the whole lab, per node (includes node processes)\n"
                  "[4] userspace memory kept while the lab is up: labctl's growth in RSS; Mininet's growth in "
                  "RSS plus its node shells' PSS", markup=False, highlight=False)
    targets = Table(title="Targets")
    for column in ("figure", "value", "target", ""):
        targets.add_column(column)
    t = report["targets"]
    if t.get("bringup_ratio") is not None:
        targets.add_row("labctl bring-up / floor", f"{t['bringup_ratio']:.2f}x", f"<= {TARGET_RATIO:g}x",
                        "met" if t["bringup_ratio_met"] else "[red]missed[/red]")
    if t.get("teardown_s") is not None:
        targets.add_row("labctl teardown (lab.down)", fmt(t["teardown_s"]), f"<= {TARGET_TEARDOWN_S:.0f} s",
                        "met" if t["teardown_met"] else "[red]missed[/red]")
        targets.add_row("labctl teardown until released", fmt(t.get("teardown_released_s")),
                        f"<= {TARGET_TEARDOWN_S:.0f} s",
                        "" if t.get("teardown_released_s") is None else
                        "met" if t["teardown_released_s"] <= TARGET_TEARDOWN_S else "[red]missed[/red]")
    if t.get("mininet_over_labctl") is not None:
        targets.add_row("Mininet bring-up / labctl", f"{t['mininet_over_labctl']:.1f}x", "", "")
    console.print(targets)


def build_report(args: argparse.Namespace, plan: Plan, edges: int, hosts: int, results: list[MethodResult],
                 machine: dict, leftovers: dict[str, list[str]]) -> dict:
    nodes = len(plan.nodes)
    report = {
        "benchmark": "bringup",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "nodes": nodes, "links": len(plan.links), "repeat": args.repeat,
        "topology": {"core_routers": 1, "edge_routers": edges, "switches": edges, "hosts_per_edge": hosts},
        "machine": machine,                                 # loadavg: when the run started
        "loadavg_at_end": os.getloadavg(),
        "methods": {},
        "leftovers": leftovers,
    }
    for r in results:
        report["methods"][r.key] = {"label": r.label, "skipped": r.skipped, "notes": r.notes,
                                    "pings_detail": [asdict(p) for p in r.pings],
                                    "samples": [asdict(s) for s in r.samples],
                                    **(r.summary(nodes) if r.samples else {})}
    m = report["methods"]
    up = {k: m[k].get("up_s") for k in m}
    targets: dict = {"bringup_ratio_max": TARGET_RATIO, "teardown_max_s": TARGET_TEARDOWN_S}
    if up.get("labctl") and up.get("floor"):
        targets["bringup_ratio"] = up["labctl"] / up["floor"]
        targets["bringup_ratio_met"] = targets["bringup_ratio"] <= TARGET_RATIO
    if m.get("labctl", {}).get("down_s") is not None:
        targets["teardown_s"] = m["labctl"]["down_s"]
        targets["teardown_met"] = targets["teardown_s"] <= TARGET_TEARDOWN_S
        targets["teardown_released_s"] = m["labctl"].get("released_s")
    if up.get("labctl") and up.get("mininet"):
        targets["mininet_over_labctl"] = up["mininet"] / up["labctl"]
    report["targets"] = targets
    return report


def measure(plan: Plan, repeat: int, skip_mininet: str | None, console: Console,
            results: list[MethodResult]) -> dict[str, list[str]]:
    """Fill `results` (labctl, floor, Mininet); returns whatever had to be cleaned up after the methods."""
    labctl_r, floor_r, mininet_r = results
    leftovers: dict[str, list[str]] = {}
    watcher = observe.ReleaseWatcher()
    try:
        warm = compile_plan(campus(2, 3))     # imports, caches and kernel slabs warm before anything is timed
        run_labctl(warm, watcher, check=False)
        run_floor(warm, watcher, check=False)
        for i in range(repeat):
            for result, run in ((labctl_r, run_labctl), (floor_r, run_floor)):
                sample, pings = run(plan, watcher, check=i == 0)
                result.samples.append(sample)
                result.pings += pings
                console.print(f"  {result.key:<7} run {i + 1}/{repeat}: up {sample.up_s:.2f} s, "
                              f"down {sample.down_s:.2f} s, released {fmt(sample.released_s)}")
        if skip_mininet:
            mininet_r.skipped = skip_mininet
            return leftovers
        console.print("  mininet run 1/1 (slow: one shell per node, one `ip` process per change) ...")
        sample, pings, left = run_mininet(plan, watcher)
        mininet_r.samples.append(sample)
        mininet_r.pings += pings
        if left:
            mininet_r.notes.append(f"net.stop() left {len(left)} interfaces in the root namespace; deleted")
            leftovers["mininet_root_links_deleted"] = left
        console.print(f"  mininet run 1/1: up {sample.up_s:.2f} s, down {sample.down_s:.2f} s, "
                      f"released {fmt(sample.released_s)}")
        return leftovers
    finally:
        watcher.close()
        if remaining := sorted(our_namespaces()):
            leftovers["namespaces"] = remaining
            console.print(f"namespaces left behind: {', '.join(remaining)}", style="red", markup=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500, help="about how many nodes (default 500 -> 501)")
    parser.add_argument("--repeat", type=int, default=3, help="labctl and floor runs, interleaved (default 3)")
    parser.add_argument("--skip-mininet", action="store_true", help="leave out the Mininet row")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
    if args.nodes < 7 or args.repeat < 1:
        parser.error("--nodes must be at least 7 and --repeat at least 1")
    console = Console(width=None if sys.stdout.isatty() else 140)
    edges, hosts = shape(args.nodes)
    plan = compile_plan(campus(edges, hosts))
    skip_mininet = "--skip-mininet" if args.skip_mininet else mininet_build.unavailable()
    preflight(plan, mininet=not skip_mininet)
    machine = observe.machine()
    console.print(f"{len(plan.nodes)} nodes (1 core router, {edges} edge routers, {edges} switches, "
                  f"{edges * hosts} hosts), {len(plan.links)} links")
    results = [MethodResult("labctl", "labctl"), MethodResult("floor", "floor (ip -batch)"),
               MethodResult("mininet", "Mininet 2.3")]
    results[0].notes.append("lab.up / lab.down in this process, after a warm-up lab (imports and caches warm)")
    results[1].notes.append(f"{1 + len(plan.nodes)} ip processes; no sysctls (routers do not forward: pings stay "
                            "within a LAN), no hosts files, no wait for carrier")
    results[2].notes.append("bring-up = net.build() + net.start() (LinuxBridges) + routers' routes via node.cmd")
    try:
        leftovers = measure(plan, args.repeat, skip_mininet, console, results)
    except Exception:
        console.print("benchmark failed:", style="red")
        console.print(traceback.format_exc(), markup=False, highlight=False)
        return 1
    report = build_report(args, plan, edges, hosts, results, machine, leftovers)
    render(console, report, results)
    if not args.no_save:
        console.print(f"results: {observe.save(report, 'bringup', 'latest.json')} and {observe.RESULTS / 'latest.json'}")
    if not all(p.ok for p in results[0].pings):
        console.print("labctl's lab failed its sanity pings", style="red")
        return 1
    return 1 if leftovers.get("namespaces") else 0


if __name__ == "__main__":
    sys.exit(main())
