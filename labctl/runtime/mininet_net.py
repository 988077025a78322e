"""A running lab as a Mininet network: `net = labctl.attach('demo'); net.get('h1').cmd('ping -c1 h2')`.

Nothing is built: nodes are the lab's named namespaces, interfaces and links the ones labctl created. A node's
shell starts on its first command, inside the namespace (so the lab's /etc/hosts applies), and net.stop() ends
only what this object started: the lab keeps running until `labctl down`."""
from __future__ import annotations

import logging
import re
import subprocess

from mininet.link import Intf, Link
from mininet.log import error, output
from mininet.net import Mininet
from mininet.node import Node

from labctl.errors import LabError
from labctl.kernel import netns
from labctl.paths import netns_name
from labctl.plan import Plan
from labctl.runtime.lab import require_root, set_link
from labctl.runtime.state import load

# importing mininet.log made MininetLogger (own stderr handler, level 25) the class of every logger created later
logging.setLoggerClass(logging.Logger)


class LabIntf(Intf):
    """An interface the lab configured: IPv4 address from the plan, MAC read from the kernel at attach."""

    def __init__(self, name: str, node: LabNode, address: str | None, mac: str | None):
        super().__init__(name, node=node, mac=mac, up=None)   # up=None: Intf.config would run `ifconfig up`
        if address:
            ip, prefix = address.split("/")
            self.ip, self.prefixLen = ip, int(prefix)


class LabNode(Node):
    """A host or router of the lab: its named namespace, with a shell started on first use."""

    def __init__(self, name: str, ns: str, kind: str):
        self.ns, self.kind, self.deferred = ns, kind, True
        super().__init__(name, inNamespace=False)   # not in a namespace of Mininet's: it never moves interfaces
        self.deferred = False

    def startShell(self, mnopts=None) -> None:
        """Start the shell; the call from Node.__init__ is skipped, so attaching starts no process."""
        if not self.deferred:
            super().startShell(mnopts)

    # the entry points that use the shell start it first (monitor() goes through waitReadable)
    def needShell(self) -> None:
        if not self.shell:
            self.startShell()

    def sendCmd(self, *args, **kwargs) -> None:
        self.needShell()
        super().sendCmd(*args, **kwargs)

    def cmd(self, *args, **kwargs) -> str:
        self.needShell()
        return super().cmd(*args, **kwargs)

    def waitReadable(self, timeoutms=None):
        self.needShell()
        return super().waitReadable(timeoutms)

    def _popen(self, cmd: list[str], **params) -> subprocess.Popen:
        """Every process of the node starts in its namespace: the shell (Node.startShell's `mnexec -cd env
        PS1=... bash ...`) and popen()'s commands."""
        return super()._popen(["ip", "netns", "exec", self.ns] + cmd, **params)

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        """A process in the node's namespace, without the shell (Node.popen would join the shell's pid)."""
        kwargs.setdefault("mncmd", [])
        return super().popen(*args, **kwargs)

    def __repr__(self) -> str:
        intfs = ",".join(f"{intf.name}:{intf.IP()}" for intf in self.intfList())
        return f"<{self.kind} {self.name}: {intfs} ns={self.ns} pid={self.pid}>"


class LabSwitch(LabNode):
    """A switch of the lab: a Linux bridge named after it in its own namespace. It needs no controller;
    start() and stop() bring the bridge up and down (CLI `switch s1 stop`) and never delete interfaces."""

    portBase = 1   # like Mininet's switches

    def connected(self) -> bool:
        return True

    def start(self, controllers=None) -> None:
        self._set_bridge("up")

    def stop(self, deleteIntfs=False) -> None:
        self._set_bridge("down")

    def dpctl(self, *args) -> str:
        return f"{self.name} is a Linux bridge, not an OpenFlow switch: try `{self.name} bridge fdb show`\n"

    def _set_bridge(self, state: str) -> None:
        with netns.socket(self.ns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=self.name)[0], state=state)


class LabLink(Link):
    """A link of the lab between two existing interfaces (Link.__init__ would create a veth pair)."""

    def __init__(self, intf1: LabIntf, intf2: LabIntf):
        self.intf1, self.intf2 = intf1, intf2
        intf1.link = intf2.link = self


class LabNet(Mininet):
    """A running lab as a Mininet network: hosts and routers in net.hosts (as in Mininet's LinuxRouter example),
    switches in net.switches, no controller. Call stop() when done."""

    def __init__(self, lab: str, plan: Plan):
        # Not Mininet.__init__: it raises system-wide limits and sysctls (fixLimits) and builds a network.
        self.lab, self.plan = lab, plan
        self.hosts, self.switches, self.controllers, self.links, self.terms = [], [], [], [], []
        self.nameToNode: dict[str, LabNode] = {}
        self.built, self.waitConn = True, False   # what Mininet.start() looks at
        for node in plan.nodes.values():
            ns = netns_name(lab, node.name)
            with netns.socket(ns) as ipr:
                macs = {msg.get_attr("IFLA_IFNAME"): msg.get_attr("IFLA_ADDRESS") for msg in ipr.get_links()}
            switch = node.kind == "switch"
            mn_node = (LabSwitch if switch else LabNode)(node.name, ns, node.kind)
            for intf in node.interfaces:
                LabIntf(intf.name, mn_node, intf.ipv4, macs.get(intf.name))
            (self.switches if switch else self.hosts).append(mn_node)
            self.nameToNode[node.name] = mn_node
        for link in plan.links:
            (a, intf_a), (b, intf_b) = link.ends()
            self.links.append(LabLink(self[a].intf(intf_a), self[b].intf(intf_b)))

    def addHost(self, *args, **kwargs):
        raise LabError(f"the nodes and links of lab '{self.lab}' come from its topology: change the topology "
                       "and bring the lab up again")

    addSwitch = addController = addLink = addNAT = addHost

    def __enter__(self) -> LabNet:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """End the shells and terminals this object started, by pid. The lab keeps running."""
        for term in self.terms:
            term.kill()
            term.wait()
        self.terms.clear()
        for node in self.values():
            node.terminate()

    def configLinkStatus(self, src: str, dst: str, status: str) -> None:
        """Bring every link between nodes src and dst (a switch too) up or down through labctl, which puts back
        the static routes the kernel dropped with the interfaces. Errors are reported the way Mininet does, so
        the CLI keeps running."""
        if status not in ("up", "down"):
            error(f"link status must be up or down, not {status!r}\n")
            return
        try:
            set_link(self.lab, src, dst, status == "up")
        except LabError as exc:
            error(f"{exc}\n")

    def iperf(self, hosts=None, l4Type="TCP", udpBw="10M", fmt=None, seconds=5, port=5001) -> list[str]:
        """Mininet.iperf on iperf3, without its `killall -9 iperf`: the server is a one-off process of this call,
        killed by pid. Returns [server rate, client rate] (UDP: [udpBw, server rate, client rate])."""
        if l4Type not in ("TCP", "UDP"):
            raise ValueError(f"l4Type is TCP or UDP, not {l4Type!r}")
        client, server = hosts or (self.hosts[0], self.hosts[-1])
        output(f"*** Iperf: testing {l4Type} bandwidth between {client} and {server}\n")
        common = ["-p", str(port)] + (["-f", fmt] if fmt else [])
        # -1: serve one test; --forceflush: say "listening" at once; -i 0: nothing more to fill the unread pipe
        with server.popen(["iperf3", "-s", "-1", "--forceflush", "-i", "0"] + common, stderr=subprocess.STDOUT,
                          text=True) as daemon:
            try:
                if not any("listening" in line for line in daemon.stdout):
                    raise LabError(f"iperf3 server on {server} did not start")
                udp = ["-u", "-b", udpBw] if l4Type == "UDP" else []
                out, err, _ = client.pexec(["iperf3", "-c", server.IP(), "-t", str(seconds)] + common + udp)
            finally:
                daemon.kill()   # if still waiting for a client; leaving the `with` reaps it
        rates = {end: rate for rate, end in re.findall(r"([\d.]+ \w+/sec)\b.*\b(sender|receiver)$", out, re.M)}
        if len(rates) < 2:
            error(f"could not parse iperf3 output: {out}{err}\n")
        result = [rates.get("receiver", ""), rates.get("sender", "")]
        if l4Type == "UDP":
            result.insert(0, udpBw)
        output(f"*** Results: {result}\n")
        return result


def attach(lab: str) -> LabNet:
    """The running lab `lab` as a Mininet network. Starts no process (shells start on a node's first
    command) and needs root, to enter the lab's namespaces."""
    require_root("labctl.attach")
    state, plan = load(lab)
    if state.status != "running":
        raise LabError(f"lab '{lab}' is {state.status}, not running")
    return LabNet(lab, plan)
