"""`labctl up` of a 2,000-node lab from the command line, as a user runs it: the process's start, Python's
imports, reading and validating the YAML file, compiling, building, and its exit, timed from outside. Needs root.
`make bench` runs it after bringup.py; `.venv/bin/python bench/cli_up.py --nodes 500 --repeat 1 --no-save` for a
quick look. What the figures mean: bench/README.md."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import observe
import yaml
from bringup import campus, shape
from rich.console import Console

from labctl.paths import NETNS_DIR, STATE_DIR, netns_name

LAB = "benchcli"
TARGET_S = 6.0                  # a 2,000-node lab up within 6 s from the command line
LABCTL = str(Path(sys.executable).with_name("labctl"))


def topology_file(nodes: int, folder: Path) -> tuple[Path, int]:
    """The benchmark's campus (1 core router, edge routers, each with a switch of hosts) as a YAML file."""
    topo = campus(*shape(nodes), name=LAB)
    data = {"name": LAB, "nodes": {n: node.kind for n, node in topo.nodes.items()},
            "links": [[e.node for e in link.endpoints] for link in topo.links]}
    path = folder / f"{LAB}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, len(topo.nodes)


def timed(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([LABCTL, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ping_across(topology: Path) -> bool:
    """From the first LAN's first host to the last LAN's last host."""
    names = list(yaml.safe_load(topology.read_text())["nodes"])
    hosts = [n for n in names if n.startswith("h")]
    return subprocess.run([LABCTL, "exec", LAB, hosts[0], "--", "ping", "-c1", "-W2", hosts[-1]],
                          capture_output=True).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000, help="about how many nodes (default 2000 -> 2001)")
    parser.add_argument("--repeat", type=int, default=3, help="runs (default 3; the median is reported)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    if os.geteuid() != 0:
        raise SystemExit("bench/cli_up.py needs root (it creates network namespaces)")
    if (STATE_DIR / LAB).exists():
        raise SystemExit(f"a lab named '{LAB}' is up (maybe from an interrupted run): `labctl down {LAB}` first")
    ups, downs, pings = [], [], []
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as folder:
        topology, nodes = topology_file(args.nodes, Path(folder))
        timed("validate", str(topology))                 # the imports' files in the page cache, as a user's are
        names = list(yaml.safe_load(topology.read_text())["nodes"])
        watcher = observe.ReleaseWatcher()
        try:
            for i in range(args.repeat):
                ups.append(timed("up", str(topology), "-q"))
                try:
                    pings.append(ping_across(topology))
                    for name in names:
                        watcher.watch_path(NETNS_DIR / netns_name(LAB, name))
                    watcher.arm()
                finally:
                    downs.append(timed("down", LAB))
                released = watcher.wait()          # the next run starts once the kernel has freed this one
                console.print(f"  run {i + 1}/{args.repeat}: up {ups[-1]:.2f} s, down {downs[-1]:.2f} s"
                              + ("" if released else " (the kernel did not release the lab within 60 s)"))
        finally:
            watcher.close()
    report = {"benchmark": "cli_up", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nodes": nodes,
              "repeat": args.repeat, "machine": observe.machine(), "up_s": ups, "down_s": downs, "pings": pings,
              "up_median_s": statistics.median(ups), "down_median_s": statistics.median(downs),
              "target_up_s": TARGET_S, "target_met": statistics.median(ups) <= TARGET_S}
    console.print(f"`labctl up` of {nodes} nodes from the command line: {report['up_median_s']:.2f} s "
                  f"(median of {args.repeat}; target <= {TARGET_S:g} s: "
                  f"{'met' if report['target_met'] else 'MISSED'}); `labctl down`: {report['down_median_s']:.2f} s; "
                  f"pings across the lab: {sum(pings)}/{len(pings)}")
    if not args.no_save:
        console.print(f"results: {observe.save(report, 'cli-up', 'cli-up-latest.json')}")
    return 0 if all(pings) else 1


if __name__ == "__main__":
    sys.exit(main())
