"""Mininet's own topology classes as labctl topologies: `labctl up --mininet tree,depth=2,fanout=3`."""
from __future__ import annotations

import logging

from mininet.topo import LinearTopo, MinimalTopo, SingleSwitchReversedTopo, SingleSwitchTopo, Topo
from mininet.topolib import TreeTopo
from mininet.util import splitArgs

from labctl.errors import InputError
from labctl.topology.schema import Topology

# importing mininet.log made MininetLogger (own stderr handler, level 25) the class of every logger created later
logging.setLoggerClass(logging.Logger)

# kind -> (Mininet class, spec syntax), as `mn --topo` names them
TOPOLOGIES: dict[str, tuple[type[Topo], str]] = {
    "minimal": (MinimalTopo, "minimal"),
    "single": (SingleSwitchTopo, "single,K"),
    "reversed": (SingleSwitchReversedTopo, "reversed,K"),
    "linear": (LinearTopo, "linear,K[,n=N]"),
    "tree": (TreeTopo, "tree,depth=D,fanout=F"),
}


def topology_from_mininet(spec: str) -> Topology:
    """Build a Mininet topology from a `mn --topo` spec ('tree,depth=2,fanout=3') as a Topology named after its
    kind. Nodes and interfaces keep Mininet's names (h1-eth0 - s1-eth1), so scripts written for Mininet find
    them; the switches form one LAN."""
    kind, args, kwargs = splitArgs(spec.strip())
    valid = ", ".join(form for _, form in TOPOLOGIES.values())
    if kind == "torus":
        raise InputError([f"mininet topology '{spec}': a torus has switch loops, which Linux bridges without STP "
                          f"flood forever; valid topologies: {valid}"])
    if kind not in TOPOLOGIES:
        raise InputError([f"mininet topology '{spec}': unknown kind '{kind}'; valid topologies: {valid}"])
    cls, form = TOPOLOGIES[kind]
    if not all(isinstance(value, int) for value in [*args, *kwargs.values()]):
        raise InputError([f"mininet topology '{spec}': arguments are whole numbers; use {form}"])
    try:
        topo = cls(*args, **kwargs)
    except TypeError as exc:   # an unknown keyword or too many arguments
        raise InputError([f"mininet topology '{spec}': {exc}; use {form}"]) from None
    if not topo.hosts():
        raise InputError([f"mininet topology '{spec}' has no hosts; use {form} with positive numbers"])
    nodes = {name: "switch" if topo.isSwitch(name) else "host" for name in topo.hosts() + topo.switches()}
    links = [[f"{a}:{a}-eth{info['port1']}", f"{b}:{b}-eth{info['port2']}"]
             for a, b, info in topo.links(sort=True, withInfo=True)]
    return Topology.model_validate({"name": kind, "description": f"Mininet topology {spec}",
                                    "nodes": nodes, "links": links})
