"""The raw kernel floor: a plan's namespaces, veth pairs, bridges, addresses and routes made with as few `ip`
processes as iproute2 allows, then removed again.

The cheapest correct way found (see bench/README.md for the alternatives measured):
  1. one `ip -batch` in the root namespace: every `netns add`, then every veth pair created straight into its two
     namespaces (`link add A netns X type veth peer name B netns Y`), so no interface is ever moved;
  2. one `ip -n NS -batch` per namespace for what only works from inside it: lo up, the bridge and its ports,
     interfaces up, addresses, routes. No batch line can switch namespace, and addresses and routes have no
     target-namespace attribute, so N+1 `ip` processes is the minimum; one shell script starts them, which is
     cheaper than starting each from Python.
Teardown is one `ip -batch` of `netns del` lines. Not done, unlike labctl: sysctls (so routers do not forward),
/etc/netns hosts files, link shaping, and any wait for carrier.
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from labctl.kernel import netns
from labctl.plan import NodePlan, Plan


def node_batch(node: NodePlan) -> list[str]:
    """The `ip -batch` lines that configure one node from inside its namespace."""
    lines = ["link set lo up"]
    if node.kind == "switch":
        lines.append(f"link add {node.name} type bridge")
    lines += [f"addr add {address} dev lo" for address in node.loopback]
    for intf in node.interfaces:
        lines.append(f"link set {intf.name}" + (f" master {node.name}" if node.kind == "switch" else "")
                     + (f" mtu {intf.mtu}" if intf.mtu else "") + " up")
        lines += [f"addr add {address} dev {intf.name}" for address in (intf.ipv4, intf.ipv6) if address]
    if node.kind == "switch":
        lines.append(f"link set {node.name} up")
    lines += [f"route replace {route.dst} via {route.via} dev {route.dev} proto static metric {route.metric}"
              for route in node.routes]
    return lines


class Floor:
    """One build of `plan` with `ip`, its namespaces named `<prefix>.<node>`."""

    def __init__(self, plan: Plan, prefix: str):
        self.plan, self.prefix = plan, prefix
        self.dir = Path(tempfile.mkdtemp(prefix="labctl-bench-floor-"))
        self.namespaces = [self.ns(name) for name in plan.nodes]
        self._write_scripts()

    def ns(self, node: str) -> str:
        return f"{self.prefix}.{node}"

    @property
    def processes(self) -> int:
        """`ip` processes a bring-up starts."""
        return 1 + len(self.plan.nodes)

    def _write_scripts(self) -> None:
        root = [f"netns add {ns}" for ns in self.namespaces]
        for link in self.plan.links:
            (a, ifa), (b, ifb) = link.ends()
            root.append(f"link add {ifa} netns {self.ns(a)} type veth peer name {ifb} netns {self.ns(b)}")
        (self.dir / "root.batch").write_text("\n".join(root) + "\n")
        script = ["set -e"]
        for node in self.plan.nodes.values():
            batch = self.dir / f"{node.name}.batch"
            batch.write_text("\n".join(node_batch(node)) + "\n")
            script.append(f"ip -n {self.ns(node.name)} -batch {batch}")
        (self.dir / "nodes.sh").write_text("\n".join(script) + "\n")
        (self.dir / "down.batch").write_text("".join(f"netns del {ns}\n" for ns in self.namespaces))

    def up(self) -> dict[str, float]:
        """Build; returns the seconds each step took."""
        t0 = time.perf_counter()
        _run("ip", "-batch", str(self.dir / "root.batch"))
        t1 = time.perf_counter()
        _run("bash", str(self.dir / "nodes.sh"))
        t2 = time.perf_counter()
        return {"namespaces and veth pairs (1 ip)": t1 - t0,
                f"per-namespace config ({len(self.plan.nodes)} ip)": t2 - t1}

    def down(self) -> None:
        _run("ip", "-batch", str(self.dir / "down.batch"))

    def remove_leftovers(self) -> list[str]:
        """After a failure: delete whichever of this build's namespaces exist, by their exact names."""
        left = [ns for ns in self.namespaces if netns.exists(ns)]
        if left:
            subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {ns}\n" for ns in left),
                           text=True, capture_output=True)
        return left

    def close(self) -> None:
        for path in self.dir.iterdir():
            path.unlink()
        self.dir.rmdir()


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
