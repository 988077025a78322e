"""`frr`: FRRouting on a router with routing keys (added by the compiler, not written under `services:`). One
FRR instance per router, in FRR's own multi-instance layout: pathspace `<lab>+<node>`, so its config is
/etc/frr/<pathspace>/ (the node's own /etc) and its sockets and pids /var/run/frr/<pathspace>/ (in a /var/run/frr
of its own, see render()). watchfrr runs in
the foreground and starts the daemons as the package's scripts do; `frrinit.sh stop` stops them. The daemons log
into the service's log; `vtysh` in the node (labctl exec, shell, checks) is a wrapper that names the pathspace.

The configuration is one integrated frr.conf, a template per daemon (zebra and staticd, bfdd, ospfd, ospf6d, bgpd)."""
from __future__ import annotations

import shlex

from labctl.paths import service_log
from labctl.plan import ServicePlan
from labctl.services import SERVICES
from labctl.services.base import Service

DAEMONS = "/usr/lib/frr"
LOCAL_PREF = {"customer": 200, "peer": 100, "provider": 50}
TAG = {"customer": 1, "peer": 2, "provider": 3}       # <asn>:0:<tag>, the large community a route learnt gets


def pathspace(lab: str, node: str) -> str:
    """FRR refuses dots and slashes in a pathspace, and a lab name has no '+'."""
    return f"{lab}+{node}"


@SERVICES.register("frr")
class Frr(Service):
    programs = {f"{DAEMONS}/watchfrr": "frr", "vtysh": "frr",
                "/usr/lib/x86_64-linux-gnu/frr/modules/bgpd_rpki.so": "frr-rpki-rtrlib"}
    kinds = ("router",)
    implied = "on every router with routing keys (asn, ospf)"

    def daemons(self) -> list[str]:
        """In the order FRR's scripts start them (zebra first)."""
        routing = self.node.routing
        wanted = {"zebra": True, "bgpd": routing.asn is not None, "ospfd": bool(routing.ospf),
                  "ospf6d": bool(routing.ospf6), "staticd": True,
                  "bfdd": any(n.bfd for n in routing.neighbors) or any(i.bfd for i in routing.ospf + routing.ospf6)}
        return [d for d, on in wanted.items() if on]

    def families(self) -> list[tuple[str, str, list, list]]:
        """For each address family BGP carries here: (family, "" or "6" for names, [(announcement, the route-map
        setting its communities or None)], [neighbours])."""
        routing, found = self.node.routing, []
        for family, v in (("ipv4", ""), ("ipv6", "6")):
            originated = [(a, f"ORIGIN{v}-{k}" if a.communities else None)
                          for k, a in enumerate(routing.announce, start=1) if (":" in a.prefix) == bool(v)]
            neighbors = [n for n in routing.neighbors if n.family == family]
            if originated or neighbors:
                found.append((family, v, originated, neighbors))
        return found

    def render(self) -> ServicePlan:
        ps = pathspace(self.plan.name, self.node.name)
        routing = self.node.routing
        daemons = self.daemons()
        context = dict(routing=routing, daemons=daemons, local_pref=LOCAL_PREF, tag=TAG, families=self.families(),
                       log=service_log(self.plan.name, self.node.name, self.name))
        conf = self.template("frr.conf.j2", **context)
        # FRR keeps some state outside its pathspace (ospfd's and ospf6d's graceful-restart files in /var/run/frr)
        # and names itself after the system's host name (BGP's hostname capability, vtysh's prompt). So the daemons,
        # and vtysh, see a /var/run/frr of the service's own, in a UTS namespace named after the router.
        state = self.dir / "run"
        inside = ["unshare", "--uts", "--mount", "sh", "-c",
                  f'hostname {self.node.name} && mount --bind {state} /var/run/frr && exec "$0" "$@"']
        vtysh = [*inside, "/usr/bin/vtysh", "-N", ps]
        configured = "^router bgp" if routing.asn else "^router ospf"
        return self.plan_of(
            files=[self.file(f"/etc/frr/{ps}/daemons", self.template("daemons.j2", **context)),
                   self.file(f"/etc/frr/{ps}/frr.conf", conf),
                   self.file(f"/etc/frr/{ps}/vtysh.conf", "service integrated-vtysh-config\n"),
                   self.file(self.dir / "bin" / "vtysh", f'#!/bin/sh\nexec {shlex.join(vtysh)} "$@"\n',
                             executable=True)],
            user="frr", runtime_dirs=[str(state / ps)],
            command=[*inside, f"{DAEMONS}/watchfrr", "-N", ps, *daemons],
            health=["sh", "-c", f"test -e {state / ps}/watchfrr.started && "
                                f"{shlex.join(vtysh)} -c 'show running-config' | grep -q '{configured}'"],
            ready_timeout_s=20.0, stop_command=[*inside, f"{DAEMONS}/frrinit.sh", "stop", ps], stop_timeout_s=10.0)
