"""Routing with FRR: how fast a generated 50-AS Internet converges after `labctl up`, what each router costs in
memory, how long traffic stops after a link failure with and without BFD, and how many mini-Internets run side by
side. Needs root and FRR. `make bench` runs it after emulator.py; `.venv/bin/python bench/routing.py --quick
--no-save` for a quick look. What the figures mean: bench/README.md."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

import internet
import observe
import yaml
from rich.console import Console
from rich.table import Table

from labctl.kernel import cgroups
from labctl.paths import NETNS_DIR, STATE_DIR, netns_name, service_dir
from labctl.plan import Plan
from labctl.runtime import lab, services
from labctl.runtime.frr import vtysh_json
from labctl.scenario.outputs import PING_REPLY, PING_SEQ
from labctl.services.frr import pathspace
from labctl.topology import compile_plan, load_topology
from labctl.topology.shaping import LinkShaping

MINI = Path(__file__).resolve().parents[1] / "topologies" / "mini-internet.yaml"
MINI_PING = ("h5", "h7")            # AS65005 under r1 to AS65007 under r2: across the tier-1 peering
LAB_NET, LAB_OSPF, LAB_COPY = "bench-net", "bench-ospf-{}", "bench-mi{}"
DAEMONS = ("zebra", "bgpd", "staticd", "watchfrr")

TARGET_CONVERGENCE_S = 15.0         # from `labctl up` to full BGP convergence of 50 ASes
ISSUE_ZEBRA_BGPD_MB = 26            # the issue's figure for zebra + bgpd
POLL_S = 0.2                        # between polls of the routers that lack a prefix
CONVERGE_TIMEOUT_S = 120.0
PING_INTERVAL_S = 0.009             # iputils 20221126 asked for 10 ms sends every 16-17 ms here; for 9 ms, every 9 ms
OSPF = {"hello": "1s", "dead": "4s"}
OSPF_DEAD_S = 4.0
LSA_SETTLED_S = 6                   # FRR re-originates an LSA at most every 5 s: a failure sooner after a change
                                    # is seen late, so each one waits until every router LSA is this old
BFD = {"interval": "100ms", "multiplier": 3}
SAFETY_MIB = 2048                   # no copy more once MemAvailable would fall below this
SLOWDOWN = 3.0                      # ... or once the newest copy converges this many times slower than the first


@dataclasses.dataclass
class Profile:
    """What a run measures: the default, or --quick's smoke run."""
    ases: int
    repeat: int                     # outage measurements of each kind
    timers: bool                    # the outage without BFD (slow: the dead interval each time)
    max_copies: int
    failures: tuple[str, ...]       # of FAILURES
    idle_s: float                   # the CPU sampled this long after each copy converged


FULL = Profile(50, 3, True, 8, ("link down", "silent failure"), 3.0)
QUICK = Profile(6, 1, False, 1, ("silent failure",), 1.0)


# -- reading the routers ---------------------------------------------------------------------------------------

def bgpd_json(plan: Plan, node: str, command: str = "show ip bgp json") -> dict:
    """A command's JSON straight from bgpd's vty socket, as vtysh asks it (the command and a NUL; the answer ends
    in three NULs and a status byte). No process is started: polling 50 routers through vtysh (six processes each
    with the node's wrapper) takes 1.2-1.4 s a round on 2 cores and slows the very convergence it watches."""
    path = service_dir(plan.name, node, "frr") / "run" / pathspace(plan.name, node) / "bgpd.vty"
    data = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as vty:
        vty.settimeout(10)
        vty.connect(str(path))
        vty.sendall(command.encode() + b"\0")
        while data[-4:-1] != b"\0\0\0":
            chunk = vty.recv(1 << 16)
            if not chunk:
                raise RuntimeError(f"bgpd of {plan.name}.{node} closed its vty during `{command}`")
            data += chunk
    if data[-1]:
        raise RuntimeError(f"`{command}` on {plan.name}.{node}: status {data[-1]}: {data[:-4].decode()[:200]}")
    return json.loads(data[:-4] or b"{}")


def best_prefixes(table: dict) -> set[str]:
    return {prefix for prefix, paths in table.get("routes", {}).items() if any(p.get("bestpath") for p in paths)}


def bgp_routers(plan: Plan) -> list[str]:
    return [n for n, node in plan.nodes.items() if node.routing and node.routing.asn]


def announced(plan: Plan) -> set[str]:
    return {a.prefix for n in bgp_routers(plan) for a in plan.nodes[n].routing.announce if ":" not in a.prefix}


def host_address(plan: Plan, node: str) -> str:
    return plan.nodes[node].interfaces[0].ipv4.split("/")[0]


def ping_once(plan: Plan, src: str, dst: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", netns_name(plan.name, src), "ping", "-n", "-c1", "-W1",
                           host_address(plan, dst)], capture_output=True).returncode == 0


def converge(plan: Plan, t0: float, pair: tuple[str, str]) -> dict:
    """Poll the routers that still lack a best path to some announced prefix until none does; then a ping
    between the pair's hosts, and vtysh's own view of every router. Times from t0 (when lab.up was called)."""
    routers, prefixes = bgp_routers(plan), announced(plan)
    pending, polls, missing = set(routers), 0, {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        while pending and time.perf_counter() - t0 < CONVERGE_TIMEOUT_S:
            names = sorted(pending)
            missing = dict(zip(names, pool.map(lambda r: len(prefixes - best_prefixes(bgpd_json(plan, r))), names)))
            polls += 1
            pending = {r for r, m in missing.items() if m}
            if pending:
                time.sleep(POLL_S)
        converged = None if pending else time.perf_counter() - t0
        ping = None
        while converged and ping is None and time.perf_counter() - t0 < converged + 10:
            if ping_once(plan, *pair):
                ping = time.perf_counter() - t0
        confirmed = sum(pool.map(lambda r: not prefixes - best_prefixes(vtysh_json(plan.name, r, "show ip bgp",
                                                                                    plan=plan)), routers))
    return {"routers": len(routers), "prefixes": len(prefixes), "converged_s": converged, "polls": polls,
            "missing": {r: missing.get(r) for r in sorted(pending)}, "ping": list(pair), "ping_s": ping,
            "vtysh_confirmed": confirmed}


def frr_memory(plan: Plan) -> dict[str, dict]:
    """Per router: each FRR daemon's RSS and the PSS of them all (KiB), from the pids in the frr service's
    cgroup (labctl's cgroups are v2 without the memory controller here, so no memory.current)."""
    found = {}
    for router in [n for n, node in plan.nodes.items() if node.routing]:
        pids = [int(p) for p in (services.group(plan.name, router, "frr") / "cgroup.procs").read_text().split()]
        rss: dict[str, int] = {}
        for pid in pids:
            daemon = Path(f"/proc/{pid}/comm").read_text().strip()
            rss[daemon] = rss.get(daemon, 0) + observe.rss_kib(pid)
        found[router] = {"rss_kib": rss, "pss_kib": observe.pss_kib(pids)}
    return found


def lab_pids(name: str) -> list[int]:
    return [int(pid) for procs in cgroups.lab_group(name).rglob("cgroup.procs") for pid in procs.read_text().split()]


def lab_cpu_s(names: list[str]) -> float:
    """CPU seconds the labs' processes have used: usage_usec of each lab's cgroup, which counts its descendants
    (cgroup v2 keeps it without the cpu controller)."""
    return sum(int(line.split()[1]) for name in names
               for line in (cgroups.lab_group(name) / "cpu.stat").read_text().splitlines()
               if line.startswith("usage_usec ")) / 1e6


def machine_cores(since: tuple[int, int]) -> float:
    """How many of the machine's cores were busy, on average, since that observe.machine_ticks()."""
    busy0, total0 = since
    busy1, total1 = observe.machine_ticks()
    return (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)


def cpu_window(names: list[str], seconds: float) -> tuple[float, float]:
    """Cores busy over the next `seconds`: by the labs' processes, and on the whole machine."""
    cpu0, ticks = lab_cpu_s(names), observe.machine_ticks()
    time.sleep(seconds)
    return (lab_cpu_s(names) - cpu0) / seconds, machine_cores(ticks)


# -- labs ------------------------------------------------------------------------------------------------------

def compile_file(topology: dict, folder: Path) -> Plan:
    """Through a YAML file, as `labctl up FILE` reads it."""
    path = folder / f"{topology['name']}.yml"
    path.write_text(yaml.safe_dump(topology, sort_keys=False))
    return compile_plan(*load_topology(path))


@contextmanager
def running(plan: Plan) -> Iterator[float]:
    """The lab up; yields when lab.up was called (time.perf_counter()). Always taken down, Ctrl-C included."""
    t0 = time.perf_counter()
    try:
        lab.up(plan)
        yield t0
    finally:
        if (STATE_DIR / plan.name).exists():
            lab.down(plan.name)


def failover_topology(name: str, bfd: bool) -> dict:
    """h1 -- r1 == r2 -- h2, and r1 -- r3 -- r2 as the longer way round; OSPF only."""
    def link(a: str, b: str) -> dict:
        return {"endpoints": [a, b], **({"bfd": True} if bfd else {})}
    return {"name": name, "routing": {"ospf": OSPF, "bfd": BFD},
            "nodes": {**{r: {"kind": "router", "ospf": True} for r in ("r1", "r2", "r3")}, "h1": "host", "h2": "host"},
            "links": [link("r1", "r2"), link("r1", "r3"), link("r3", "r2"), ["r1", "h1"], ["r2", "h2"]]}


def link_down(name: str, up: bool) -> None:
    lab.set_link(name, "r1", "r2", up=up)


def silent_failure(name: str, up: bool) -> None:
    """Every packet dropped as it leaves either end (an nftables egress rule): the carriers stay up, as when a
    switch or a fibre between the routers fails."""
    lab.impair(name, "r1", "r2", LinkShaping() if up else LinkShaping.model_validate({"loss": 100}))


FAILURES: dict[str, Callable[[str, bool], None]] = {"link down": link_down, "silent failure": silent_failure}


def next_hop(plan: Plan, src: str, dst: str) -> str:
    """The node `src` forwards to for `dst`'s host address, by the kernel's route."""
    out = subprocess.run(["ip", "-n", netns_name(plan.name, src), "-j", "route", "get", host_address(plan, dst)],
                         capture_output=True, text=True).stdout
    dev = json.loads(out)[0]["dev"] if out.strip() else None
    return plan.nodes[src].interface(dev).peer.split(":")[0] if dev else "-"


def ready(plan: Plan, bfd: bool) -> bool:
    """r1 and r2 have both their OSPF neighbours Full (and BFD up) and the 3 router LSAs, none changed in the last
    LSA_SETTLED_S; h1 -> h2 takes r1 == r2."""
    for router in ("r1", "r2"):
        neighbours = vtysh_json(plan.name, router, "show ip ospf neighbor", plan=plan).get("neighbors", {})
        if sum(n["state"].startswith("Full") for ns in neighbours.values() for n in ns) < 2:
            return False
        areas = vtysh_json(plan.name, router, "show ip ospf database", plan=plan).get("areas", {}).values()
        ages = [lsa["lsaAge"] for area in areas for lsa in area.get("routerLinkStates", [])]
        if len(ages) < 3 or min(ages) < LSA_SETTLED_S:
            return False
        if bfd and [p.get("status") for p in vtysh_json(plan.name, router, "show bfd peers", plan=plan)
                    ].count("up") < 2:
            return False
    return next_hop(plan, "r1", "h2") == "r2"


def wait_ready(plan: Plan, bfd: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready(plan, bfd):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{plan.name}: OSPF{' and BFD' if bfd else ''} not up and settled on r1 and r2, or "
                               f"h1 -> h2 not through r1 == r2, after {timeout:g} s")
        time.sleep(0.2)


def outage(plan: Plan, fail: Callable[[str, bool], None], window: float) -> dict:
    """ping h1 -> h2 about every 10 ms (-D: each reply's time); the r1 == r2 link fails after 0.5 s; `window` s
    later the stream stops. The outage is the longest gap between two replies (None: no reply after it)."""
    ping = subprocess.Popen(["ip", "netns", "exec", netns_name(plan.name, "h1"), "ping", "-D", "-n", "-O", "-i",
                             f"{PING_INTERVAL_S:g}", host_address(plan, "h2")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(0.5)
        failed_at = time.time()
        fail(plan.name, False)
        time.sleep(window)
        via = next_hop(plan, "r1", "h2")
    finally:
        stopped_at = time.time()
        ping.send_signal(signal.SIGINT)
        out = ping.communicate(timeout=10)[0]
    lines = out.splitlines()
    stamps = sorted(float(m[1]) for line in lines if (m := PING_REPLY.match(line)) and m[1])
    sent = max((int(m[1]) for line in lines if (m := PING_SEQ.search(line))), default=0)
    gap, end = max(((b - a, b) for a, b in zip(stamps, stamps[1:] + [stopped_at])), default=(None, stopped_at))
    recovered = end < stopped_at
    before = [t for t in stamps if t < failed_at]
    return {"outage_s": gap if recovered else None, "sent": sent, "replies": len(stamps), "lost": sent - len(stamps),
            "interval_s": statistics.median(b - a for a, b in zip(before, before[1:])) if len(before) > 1 else None,
            "recovered": recovered, "window_s": window, "via_after": via}


# -- the measurements ------------------------------------------------------------------------------------------

def measure_internet(profile: Profile, seed: int, folder: Path, console: Console) -> dict:
    topology = internet.internet(profile.ases, seed, LAB_NET)
    plan = compile_file(topology, folder)
    hosts = sorted((n for n, node in plan.nodes.items() if node.kind == "host"), key=lambda h: int(h[1:]))
    tier1, tier2, stubs = internet.tiers(profile.ases)
    console.print(f"  {topology['description']}; {len(topology['links'])} links; lab.up ...", highlight=False)
    before, ticks = observe.meminfo(), observe.machine_ticks()
    with running(plan) as t0:
        up_s, up_cpu = time.perf_counter() - t0, lab_cpu_s([plan.name])
        result = converge(plan, t0, (hosts[0], hosts[-1]))
        cpu, machine = lab_cpu_s([plan.name]), machine_cores(ticks)
        memory = frr_memory(plan)
        used = observe.memory_used(before, observe.meminfo())
    console.print(f"  up {up_s:.2f} s, converged {fmt(result['converged_s'], ' s', 2)}, ping "
                  f"{fmt(result['ping_s'], ' s', 2)}", highlight=False)
    sessions = sum(len(n.routing.neighbors) for n in plan.nodes.values() if n.routing) // 2   # each end has one
    return {"ases": profile.ases, "seed": seed, "tiers": {"tier1": tier1, "tier2": tier2, "stubs": stubs},
            "nodes": len(plan.nodes), "links": len(plan.links), "bgp_sessions": sessions, "up_s": up_s, **result,
            "lab_cpu_s": {"up": up_cpu, "converged": cpu}, "machine_busy_cores": machine,
            "memory_used_kib": used, "frr_memory": memory}


def measure_outages(bfd: bool, profile: Profile, folder: Path, console: Console) -> dict[str, list[dict]]:
    plan = compile_file(failover_topology(LAB_OSPF.format("bfd" if bfd else "tim"), bfd), folder)
    runs: dict[str, list[dict]] = {failure: [] for failure in profile.failures}
    with running(plan):
        for _ in range(profile.repeat):
            for failure in profile.failures:
                change = FAILURES[failure]
                wait_ready(plan, bfd)
                window = 1.0 + (OSPF_DEAD_S if failure == "silent failure" and not bfd else 0.0)
                runs[failure].append(result := outage(plan, change, window))
                change(plan.name, True)
                console.print(f"  {'BFD' if bfd else 'timers'}, {failure}: outage {fmt(result['outage_s'], ' s', 3)}"
                              f", {result['lost']} pings lost, then via {result['via_after']}", highlight=False)
    return runs


def measure_copies(max_copies: int, idle_s: float, console: Console) -> dict:
    copies: list[dict] = []
    stop = f"--max-copies {max_copies}"
    with ExitStack() as stack:
        for k in range(1, max_copies + 1):
            before = observe.meminfo()
            if copies and before["MemAvailable"] - max(c["memory_added_kib"] for c in copies) < SAFETY_MIB * 1024:
                stop = f"MemAvailable would fall below {SAFETY_MIB} MiB"
                break
            plan = compile_plan(*load_topology(MINI), name=LAB_COPY.format(k))
            t0 = stack.enter_context(running(plan))
            up_s = time.perf_counter() - t0
            result = converge(plan, t0, MINI_PING)
            cpu, after = lab_cpu_s([plan.name]), observe.meminfo()
            idle, machine = cpu_window([c["lab"] for c in copies] + [plan.name], idle_s)
            copies.append({"copy": k, "lab": plan.name, "up_s": up_s, **result, "lab_cpu_s": cpu,
                           "idle_cores_all_copies": idle, "machine_busy_cores": machine,
                           "memory_added_kib": before["MemAvailable"] - after["MemAvailable"],
                           "pss_kib": observe.pss_kib(lab_pids(plan.name)), "mem_available_kib": after["MemAvailable"],
                           "loadavg": os.getloadavg()})
            console.print(f"  copy {k}: up {up_s:.2f} s, converged {fmt(result['converged_s'], ' s', 2)}, "
                          f"+{copies[-1]['memory_added_kib'] / 1024:.0f} MiB, copies idle {idle:.3f} cores",
                          highlight=False)
            if result["converged_s"] is None:
                stop = f"copy {k} did not converge in {CONVERGE_TIMEOUT_S:g} s"
                break
            if copies[0]["converged_s"] and result["converged_s"] > SLOWDOWN * copies[0]["converged_s"]:
                stop = f"copy {k} converged more than {SLOWDOWN:g}x slower than the first"
                break
        t1 = time.perf_counter()
    return {"copies": copies, "stopped": stop, "down_all_s": time.perf_counter() - t1}


# -- the report ------------------------------------------------------------------------------------------------

def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else {}


def summarise(report: dict) -> None:
    summary: dict = {}
    if net := report.get("internet"):
        memory = net["frr_memory"].values()
        per_daemon = {d: stats([m["rss_kib"].get(d, 0) / 1024 for m in memory]) for d in DAEMONS}
        summary["internet"] = {
            "converged_s": net["converged_s"], "ping_s": net["ping_s"], "up_s": net["up_s"],
            "target_met": net["converged_s"] is not None and net["converged_s"] <= TARGET_CONVERGENCE_S,
            "rss_mib": per_daemon, "rss_total_mib": stats([sum(m["rss_kib"].values()) / 1024 for m in memory]),
            "zebra_bgpd_rss_mib": stats([(m["rss_kib"].get("zebra", 0) + m["rss_kib"].get("bgpd", 0)) / 1024
                                         for m in memory]),
            "pss_mib": stats([m["pss_kib"] / 1024 for m in memory]),
            "machine_mib_per_router": net["memory_used_kib"]["available"] / 1024 / net["routers"]}
    if outages := report.get("outage"):
        summary["outage"] = {
            f"{detection}, {failure}": {"outage_s": stats([r["outage_s"] for r in runs if r["outage_s"] is not None]),
                                        "lost": stats([r["lost"] for r in runs]), "runs": len(runs),
                                        "recovered": sum(r["recovered"] for r in runs),
                                        "via_after": sorted({r["via_after"] for r in runs})}
            for detection, failures in outages.items() for failure, runs in failures.items()}
    if (side := report.get("side_by_side")) and side["copies"]:
        copies = side["copies"]
        added = statistics.median(c["memory_added_kib"] for c in copies) / 1024
        idle = copies[-1]["idle_cores_all_copies"] / len(copies)
        summary["side_by_side"] = {
            "copies": len(copies), "stopped": side["stopped"], "memory_per_copy_mib": added,
            "idle_cores_per_copy": idle,
            "memory_allows": int((report["machine"]["mem_available_mib"] - SAFETY_MIB) / added) if added > 0 else None,
            "first_converged_s": copies[0]["converged_s"], "last_converged_s": copies[-1]["converged_s"]}
    report["summary"] = summary


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def spread(s: dict, unit: str, digits: int = 1, scale: float = 1.0) -> str:
    if not s:
        return "-"
    median, low, high = (s[k] * scale for k in ("median", "min", "max"))
    return f"{median:.{digits}f}{unit}" + (f" ({low:.{digits}f}-{high:.{digits}f})" if high > low else "")


def render(console: Console, report: dict) -> None:
    s = report["summary"]
    if net := report.get("internet"):
        i = s["internet"]
        t = net["tiers"]
        table = Table(title=f"BGP convergence of a generated {net['ases']}-AS Internet (seed {net['seed']}: "
                            f"{t['tier1']} tier-1s, {t['tier2']} tier-2s, {t['stubs']} stubs; {net['bgp_sessions']} "
                            f"eBGP sessions, {net['prefixes']} prefixes)")
        for column in ("from the start of lab.up", "time", ""):
            table.add_column(column, justify="right" if column == "time" else "left")
        table.add_row(f"lab.up returned (namespaces, links, {net['routers']} FRRs healthy)", fmt(net["up_s"], " s", 2),
                      "")
        table.add_row("every router has a best path to every prefix [1]", fmt(net["converged_s"], " s", 2),
                      f"target <= {TARGET_CONVERGENCE_S:g} s: " + ("met" if i["target_met"] else "[red]not met[/red]"))
        table.add_row(f"ping {net['ping'][0]} -> {net['ping'][1]} answered", fmt(net["ping_s"], " s", 2), "")
        cpu = net["lab_cpu_s"]
        table.add_row("CPU of the lab's processes, until lab.up returned / until converged",
                      f"{cpu['up']:.1f} s / {cpu['converged']:.1f} s",
                      f"machine: {net['machine_busy_cores']:.2f} of {report['machine']['nproc']} cores busy")
        console.print(table)
        console.print(f"[1] `show ip bgp json` from each bgpd's vty socket, every {POLL_S:g} s, on the routers still "
                      f"missing a prefix ({net['polls']} rounds)\n    then vtysh on each router: "
                      f"{net['vtysh_confirmed']}/{net['routers']} agreed" +
                      (f"; still missing: {net['missing']}" if net["missing"] else ""), markup=False, highlight=False)
        table = Table(title=f"FRR memory per router after convergence ({net['routers']} routers)")
        for column in ("process", "RSS median", "RSS max"):
            table.add_column(column, justify="left" if column == "process" else "right")
        rows = [(d, i["rss_mib"][d]) for d in DAEMONS] + [
            (f"zebra + bgpd (the issue: about {ISSUE_ZEBRA_BGPD_MB} MB)", i["zebra_bgpd_rss_mib"]),
            ("all FRR daemons", i["rss_total_mib"]), ("all FRR daemons, PSS [2]", i["pss_mib"])]
        for label, values in rows:
            table.add_row(label, fmt(values.get("median"), " MiB"), fmt(values.get("max"), " MiB"))
        console.print(table)
        console.print(f"[2] proportional set size: shared pages (libfrr, libc) split among the routers that map "
                      f"them, what a router adds. The whole lab took {i['machine_mib_per_router']:.1f} MiB of "
                      "MemAvailable per router (kernel and hosts too; machine-wide, so others' labs move it)",
                      markup=False, highlight=False)
    if outages := s.get("outage"):
        interval = statistics.median(r["interval_s"] for detection in report["outage"].values()
                                     for runs in detection.values() for r in runs if r["interval_s"])
        table = Table(title=f"Outage after a failure of r1 == r2: ping h1 -> h2 every {interval * 1000:.1f} ms, "
                            f"OSPF hello {OSPF['hello']} dead {OSPF['dead']}, BFD {BFD['interval']} x "
                            f"{BFD['multiplier']}")
        for column in ("detection, failure", "outage [3]", "pings lost", "runs", "then via"):
            table.add_column(column, justify="left" if column in ("detection, failure", "then via") else "right")
        for label, o in outages.items():
            table.add_row(label, spread(o["outage_s"], " ms", 0, 1000), spread(o["lost"], "", 0),
                          f"{o['recovered']}/{o['runs']}", ", ".join(o["via_after"]))
        console.print(table)
        console.print("[3] the longest gap between replies, median (min-max). link down: both ends down, the "
                      "carriers go; silent failure: every packet dropped at both ends (nftables), carriers up",
                      markup=False, highlight=False)
    for skipped in report.get("skipped", []):
        console.print(f"skipped: {skipped}", markup=False, highlight=False)
    if side := report.get("side_by_side"):
        table = Table(title=f"Copies of {MINI.name} side by side ({len(side['copies'])}, each converged before the "
                            f"next)")
        for column in ("copy", "lab.up", "converged", "ping", "its CPU [4]", "memory added [5]", "its PSS",
                       "MemAvailable", "copies idle [6]", "machine [7]", "load 1 min"):
            table.add_column(column, justify="right")
        for c in side["copies"]:
            table.add_row(str(c["copy"]), fmt(c["up_s"], " s", 2), fmt(c["converged_s"], " s", 2),
                          fmt(c["ping_s"], " s", 2), fmt(c["lab_cpu_s"], " s", 1),
                          fmt(c["memory_added_kib"] / 1024, " MiB", 0), fmt(c["pss_kib"] / 1024, " MiB", 0),
                          fmt(c["mem_available_kib"] / 1024 ** 2, " GiB", 1),
                          fmt(c["idle_cores_all_copies"], " cores", 3), fmt(c["machine_busy_cores"], " cores", 2),
                          fmt(c["loadavg"][0], "", 2))
        console.print(table)
        o, idle = s.get("side_by_side", {}), report["profile"]["idle_s"]
        console.print(f"[4] CPU time of the copy's processes (its lab's cgroup) from lab.up to convergence\n"
                      "[5] MemAvailable that went between its lab.up and its convergence: the whole cost (kernel, "
                      "processes), but machine-wide, so other people's labs move it too; its PSS: its processes "
                      "alone\n"
                      f"[6] cores busy with the processes of all copies so far, over {idle:g} s after the copy "
                      f"converged\n[7] the whole machine over the same {idle:g} s, other people's work included\n"
                      f"stopped: {side['stopped']}; all taken down in {side['down_all_s']:.1f} s"
                      + (f"; {fmt(o.get('memory_per_copy_mib'), ' MiB', 0)} per copy: memory allows about "
                         f"{o.get('memory_allows')} copies" if o else ""), markup=False, highlight=False)


# -- the run ---------------------------------------------------------------------------------------------------

def our_names(max_copies: int) -> list[str]:
    return [LAB_NET, LAB_OSPF.format("bfd"), LAB_OSPF.format("tim")] + [LAB_COPY.format(k)
                                                                         for k in range(1, max_copies + 1)]


def leftovers(names: list[str]) -> list[str]:
    spaces = [p.name for p in NETNS_DIR.iterdir() if p.name.split(".")[0] in names] if NETNS_DIR.is_dir() else []
    return sorted(spaces) + [str(STATE_DIR / n) for n in names if (STATE_DIR / n).exists()]


def preflight(names: list[str]) -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/routing.py needs root (it creates network namespaces)")
    if not Path("/usr/lib/frr/watchfrr").exists():
        raise SystemExit("bench/routing.py needs FRR (the Debian package frr)")
    if left := leftovers(names):
        raise SystemExit(f"labs or namespaces of an earlier run exist ({', '.join(left[:3])}): "
                         "`labctl down NAME` first")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ases", type=int, help=f"ASes of the generated Internet (default {FULL.ases}; "
                                                 f"--quick {QUICK.ases})")
    parser.add_argument("--seed", type=int, default=1, help="of the generated Internet (default 1)")
    parser.add_argument("--repeat", type=int, help=f"outage measurements of each kind (default {FULL.repeat})")
    parser.add_argument("--max-copies", type=int, help=f"mini-Internets at most (default {FULL.max_copies})")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK.ases} ASes, the outage with "
                                                             f"BFD once, {QUICK.max_copies} mini-Internet")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    profile = dataclasses.replace(base, ases=args.ases or base.ases, repeat=args.repeat or base.repeat,
                                  max_copies=args.max_copies or base.max_copies)
    if not internet.MIN_ASES <= profile.ases <= internet.MAX_ASES or profile.repeat < 1 or profile.max_copies < 1:
        parser.error(f"--ases is {internet.MIN_ASES} to {internet.MAX_ASES}; --repeat and --max-copies at least 1")
    names = our_names(profile.max_copies)
    preflight(names)
    console = Console(width=None if sys.stdout.isatty() else 140)
    report: dict = {"benchmark": "routing", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
                    "profile": dataclasses.asdict(profile), "machine": observe.machine(), "skipped": []}
    report["machine"]["mem_available_mib"] = observe.meminfo()["MemAvailable"] // 1024
    report["machine"]["frr"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "frr"], capture_output=True,
                                              text=True).stdout
    t0 = time.perf_counter()
    status = 0
    try:
        with tempfile.TemporaryDirectory(prefix="labctl-bench-") as folder:
            console.print("convergence and memory:")
            report["internet"] = measure_internet(profile, args.seed, Path(folder), console)
            console.print("outage after a link failure:")
            report["outage"] = {"BFD": measure_outages(True, profile, Path(folder), console)}
            if profile.timers:
                report["outage"]["timers only"] = measure_outages(False, profile, Path(folder), console)
            else:
                report["skipped"].append("the outage with protocol timers only (--quick)")
            report["skipped"] += [f"the outage after a {f} (--quick)" for f in FAILURES if f not in profile.failures]
            console.print(f"copies of {MINI.name} side by side:")
            report["side_by_side"] = measure_copies(profile.max_copies, profile.idle_s, console)
    except (Exception, KeyboardInterrupt):
        console.print("benchmark failed:", style="red")
        console.print(traceback.format_exc(), markup=False, highlight=False)
        status = 1
    finally:
        if left := leftovers(names):
            console.print(f"left behind: {', '.join(left)}", style="red", markup=False)
            status = 1
    ending = observe.wrap_up(report, t0)
    summarise(report)
    render(console, report)
    console.print(ending, highlight=False)
    if not args.no_save and status == 0:
        console.print(f"results: {observe.save(report, 'routing', 'routing-latest.json')}")
    return status


if __name__ == "__main__":
    sys.exit(main())
