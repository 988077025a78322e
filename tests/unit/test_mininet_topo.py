"""Mininet's topology classes (`labctl up --mininet SPEC`) compiled to plans; no root needed."""
from __future__ import annotations

import logging
from ipaddress import ip_interface

import pytest

from labctl.errors import InputError
from labctl.topology import compile_plan
from labctl.topology.mininet_topo import topology_from_mininet


@pytest.mark.parametrize("spec, name, hosts, switches, links", [
    ("minimal", "minimal", 2, 1, 2),
    ("single,3", "single", 3, 1, 3),
    ("reversed,3", "reversed", 3, 1, 3),
    ("linear,4", "linear", 4, 4, 7),
    ("linear,3,n=2", "linear", 6, 3, 8),
    ("tree,depth=2,fanout=3", "tree", 9, 4, 12),
    (" tree,fanout=2 ", "tree", 2, 1, 2),
])
def test_spec_to_plan(spec: str, name: str, hosts: int, switches: int, links: int) -> None:
    plan = compile_plan(topology_from_mininet(spec))
    kinds = [node.kind for node in plan.nodes.values()]
    assert (plan.name, kinds.count("host"), kinds.count("switch"), len(plan.links)) == (name, hosts, switches, links)
    # every host is on the one LAN the switches make, with its own address
    addresses = [ip_interface(n.interfaces[0].ipv4) for n in plan.nodes.values() if n.kind == "host"]
    assert len({a.network for a in addresses}) == 1 and len(set(addresses)) == hosts


def test_mininet_names_and_ports() -> None:
    """Interfaces carry Mininet's names and port numbers: hosts from eth0, switches from eth1, reversed here."""
    plan = compile_plan(topology_from_mininet("reversed,3"))
    assert [(link.a, link.b) for link in plan.links] == [
        ("h1:h1-eth0", "s1:s1-eth3"), ("h2:h2-eth0", "s1:s1-eth2"), ("h3:h3-eth0", "s1:s1-eth1")]
    assert plan.node("h1").interfaces[0].ipv4 == "10.0.0.1/24"     # h1 first, as in Mininet's 10.0.0.1


@pytest.mark.parametrize("spec, message", [
    ("foo", "mininet topology 'foo': unknown kind 'foo'; valid topologies: minimal, single,K, reversed,K, "
            "linear,K[,n=N], tree,depth=D,fanout=F"),
    ("", "mininet topology '': unknown kind ''; valid topologies: minimal, single,K, reversed,K, "
         "linear,K[,n=N], tree,depth=D,fanout=F"),
    ("torus,3,3", "mininet topology 'torus,3,3': a torus has switch loops, which Linux bridges without STP flood "
                  "forever; valid topologies: minimal, single,K, reversed,K, linear,K[,n=N], tree,depth=D,fanout=F"),
    ("tree,depth=2.5", "mininet topology 'tree,depth=2.5': arguments are whole numbers; use tree,depth=D,fanout=F"),
    ("single,x", "mininet topology 'single,x': arguments are whole numbers; use single,K"),
    ("tree,size=3", "mininet topology 'tree,size=3': TreeTopo.build() got an unexpected keyword argument 'size'; "
                    "use tree,depth=D,fanout=F"),
    ("linear,0", "mininet topology 'linear,0' has no hosts; use linear,K[,n=N] with positive numbers"),
])
def test_bad_spec(spec: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        topology_from_mininet(spec)
    assert caught.value.messages == [message]


def test_loggers_stay_plain() -> None:
    """Importing Mininet must not turn every logger created afterwards into a MininetLogger."""
    assert type(logging.getLogger("labctl.test_mininet_topo.fresh")) is logging.Logger
