"""What each node's system gets besides its interfaces and routes: sysctls by kind, the lab-wide /etc files
(hosts, resolv.conf), and its services, rendered by their modules."""
from __future__ import annotations

from labctl.plan import FilePlan, NodePlan, Plan
from labctl.services import SERVICES
from labctl.topology.schema import Topology

# As few as will do: the first /proc/sys lookup in a namespace costs time in proportion to the namespaces whose
# sysctls were looked up before (2,000 hosts with one sysctl each cost 1.3 s), so hosts of an IPv4 lab get none.
# Interfaces are created afterwards, so `default` values reach them; for the flags used here the kernel ORs `all`
# with an interface's own value.
# Routers forward, ignore routes whose link lost its carrier (a failed neighbour), and send ICMP errors without
# rate limits, so a lab's traceroutes see every hop. For IPv4 the rate mask is cleared rather than the rate set to
# 0: a zero rate also drains the per-host budget the kernel keeps for "net unreachable" errors.
_ROUTER = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
           "net.ipv4.icmp_ratemask": "0", "net.ipv6.icmp.ratelimit": "0"}
# Without DAD, IPv6 addresses are usable at once; keep_addr_on_down keeps them on an interface that goes down and
# up (a link_down fault), as IPv4's are.
_IPV6 = {"net.ipv6.conf.default.accept_dad": "0", "net.ipv6.conf.default.keep_addr_on_down": "1"}
# a switch only bridges: no IPv6 link-local chatter from its ports
_SWITCH = {"net.ipv6.conf.default.disable_ipv6": "1"}


def sysctls(kind: str, ipv6: bool) -> dict[str, str]:
    """The sysctls of a node of this kind, in a lab with or without IPv6."""
    if kind == "switch":
        return _SWITCH
    found = _IPV6 if ipv6 else {}
    if kind == "router":
        found = found | _ROUTER | ({"net.ipv6.conf.all.forwarding": "1"} if ipv6 else {})
    return found


def lab_files(nodes: dict[str, NodePlan]) -> list[FilePlan]:
    """/etc/hosts with every node's name (its first IPv4 and IPv6 address) and node-interface names, and a
    resolv.conf without a name server: without it, lookups would wait for the machine's resolver, which the lab
    cannot reach."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for name, node in nodes.items():
        addresses = node.addresses()
        for six in (False, True):
            lines += [f"{a}\t{name}" for a in addresses if (":" in a) == six][:1]
        for intf in node.interfaces:
            lines += [f"{a.split('/')[0]}\t{name}-{intf.name}" for a in (intf.ipv4, intf.ipv6) if a]
    return [FilePlan(path="/etc/hosts", content="\n".join(lines) + "\n"),
            FilePlan(path="/etc/resolv.conf", content="# labctl: lab names come from /etc/hosts; no DNS server\n")]


def render_services(topo: Topology, plan: Plan) -> None:
    """Fill each node's services: those its routing needs (FRR on a router with routing keys, stayrtr on the RPKI
    validator), then those of its `services:` (already validated against each service's model)."""
    for name, node in topo.nodes.items():
        implied = {"frr": {}} if plan.nodes[name].routing else {}
        implied |= {"stayrtr": {}} if topo.rpki and topo.rpki.validator == name and plan.roas else {}
        for service, params in (implied | node.services).items():
            cls = SERVICES[service]
            plan.nodes[name].services.append(cls(cls.Params.model_validate(params), plan.nodes[name], plan).render())
