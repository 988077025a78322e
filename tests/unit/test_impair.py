"""The kernel back end's choices: what each kernel can do, the `tc` commands for each shaping (netem and AQM
qdiscs included, which this machine lacks), and where each direction of a link is placed (kernel or emulator)."""
from __future__ import annotations

import pytest

from labctl.errors import LabError
from labctl.impair import choose, tc
from labctl.kernel.probe import Capabilities
from labctl.plan import BurstLoss, Shaping
from labctl.topology import compile_plan, load_topology
from labctl.topology.schema import Topology

FULL = Capabilities(qdiscs={q: True for q in ("netem", "tbf", "codel", "fq_codel", "red")}, nft_egress=True,
                    nfqueue=True)
THIS_ONE = Capabilities(qdiscs={"netem": False, "tbf": True, "codel": False, "fq_codel": False, "red": False},
                        nft_egress=True, nfqueue=True)           # this machine's kernel
BARE = Capabilities(qdiscs={"netem": False, "tbf": True}, nft_egress=False, nfqueue=False)


def test_what_each_kernel_can_do():
    delayed = Shaping(delay_ms=10, jitter_ms=2)
    assert tc.unsupported(delayed, FULL) == []
    assert tc.unsupported(delayed, THIS_ONE) == ["delay, jitter and bursty loss need the netem qdisc (sch_netem)"]
    assert tc.unsupported(Shaping(loss_pct=1), THIS_ONE) == []                      # nftables does it
    assert tc.unsupported(Shaping(loss_pct=1), BARE) == ["loss needs netem or nftables' netdev egress hook"]
    assert tc.unsupported(Shaping(rate_bps=10**7, queue_packets=20), BARE) == []
    assert tc.unsupported(Shaping(rate_bps=10**7, aqm="fq_codel"), THIS_ONE) == ["aqm fq_codel needs the fq_codel qdisc"]
    assert "cannot sit behind netem" in tc.unsupported(Shaping(delay_ms=5, aqm="codel"), FULL)[0]
    assert tc.unsupported(Shaping(aqm="red"), FULL) == ["red needs the link's rate"]


def test_tc_commands_rate_queue_delay_and_bursty_loss():
    shaping = Shaping(rate_bps=10**7, delay_ms=20, jitter_ms=5, queue_packets=50,
                      burst_loss=BurstLoss(p_pct=1, r_pct=25, bad_loss_pct=90, good_loss_pct=0.5))
    assert tc.commands("eth0", shaping) == [
        "tc qdisc add dev eth0 root handle 1: tbf rate 10000000bit burst 5000 limit 75700".split(),
        "tc qdisc add dev eth0 parent 1:1 handle 2: netem limit 50 delay 20000us 5000us "
        "loss gemodel 1% 25% 90% 0.5%".split()]
    assert tc.commands("eth0", Shaping()) == []


def test_tc_commands_aqm_under_tbf_and_queues_in_bytes():
    assert tc.commands("eth1", Shaping(rate_bps=1_500_000, queue_bytes=30_000, aqm="codel", aqm_target_ms=5,
                                       aqm_interval_ms=100)) == [
        "tc qdisc add dev eth1 root handle 1: tbf rate 1500000bit burst 3028 limit 30000".split(),
        "tc qdisc add dev eth1 parent 1:1 handle 2: codel limit 1000 target 5000us interval 100000us".split()]
    [_, red] = tc.commands("eth1", Shaping(rate_bps=10**7, aqm="red"))
    assert red[-9:] == "red limit 1514000 avpkt 1514 bandwidth 10000000bit adaptive harddrop".split()


def test_random_loss_without_netem_is_an_nftables_rule(monkeypatch):
    ran = []
    monkeypatch.setattr(tc, "_run", lambda ns, argv, input=None: ran.append((argv, input)) or
                        type("Done", (), {"returncode": 0, "stderr": ""})())
    tc.apply("lab.r1", "eth0", Shaping(rate_bps=10**6, loss_pct=5), THIS_ONE)
    assert [argv[:3] for argv, _ in ran] == [["tc", "qdisc", "del"], ["tc", "qdisc", "add"], ["nft", "-f", "-"]]
    assert "netem" not in " ".join(ran[1][0]) and "numgen random mod 1000000 < 50000 counter drop" in ran[2][1]
    ran.clear()
    tc.apply("lab.r1", "eth0", Shaping(), THIS_ONE)               # clearing removes the rule too
    assert "numgen" not in ran[-1][1] and "delete table netdev labctl_eth0" in ran[-1][1]


LAB = """
name: bb
nodes: {h1: host, h2: host, s1: switch, s2: switch, r1: router}
links:
  - {endpoints: [h1, r1], delay: 10ms, from: {r1: {rate: 5mbit}}}
  - {endpoints: [r1, s1], rate: 10mbit}
  - {endpoints: [s1, s2], loss: 1%}
  - [h2, s2]
"""


@pytest.fixture
def plan(tmp_path):
    (tmp_path / "bb.yml").write_text(LAB)
    return compile_plan(*load_topology(tmp_path / "bb.yml"))


def test_each_direction_is_placed_on_a_back_end(plan):
    # the emulator works on the router's side of a link: as packets enter it, or as they leave it
    delay = choose.place(plan, plan.links[0], THIS_ONE)
    assert [(s.describe(), p.describe()) for s, p in delay] == [
        ("10 ms", "h1 -> r1: labctl emulator on r1:eth0 ingress"),
        ("5 Mbit/s, 10 ms", "r1 -> h1: labctl emulator on r1:eth0 egress")]
    assert [p.describe() for _, p in choose.place(plan, plan.links[0], FULL)] == [
        "h1 -> r1: kernel qdiscs on h1:eth0 egress", "r1 -> h1: kernel qdiscs on r1:eth0 egress"]
    # a switch: on its port
    to_switch = choose.place(plan, plan.links[1], THIS_ONE, "emulator")
    assert [p.describe() for _, p in to_switch] == ["r1 -> s1: labctl emulator on s1:eth0 ingress",
                                                    "s1 -> r1: labctl emulator on r1:eth1 ingress"]
    between_switches = choose.place(plan, plan.links[2], THIS_ONE, "emulator")
    assert [p.describe() for _, p in between_switches] == ["s1 -> s2: labctl emulator on s2:eth0 ingress",
                                                           "s2 -> s1: labctl emulator on s1:eth1 ingress"]
    assert [p.backend for _, p in choose.place(plan, plan.links[1], THIS_ONE)] == ["kernel", "kernel"]     # tbf
    # two hosts: at the receiver
    direct = compile_plan(Topology.model_validate({"name": "d", "nodes": {"a": "host", "b": "host"},
                                                   "links": [{"endpoints": ["a", "b"], "delay": "5ms"}]}))
    assert [p.describe() for _, p in choose.place(direct, direct.links[0], THIS_ONE)] == [
        "a -> b: labctl emulator on b:eth0 ingress", "b -> a: labctl emulator on a:eth0 ingress"]


def test_what_no_back_end_can_do_is_refused_with_the_reasons(plan):
    with pytest.raises(LabError, match="link s1-s2: s1 -> s2 .* NFQUEUE"):
        choose.place(plan, plan.links[2], BARE)
    with pytest.raises(LabError, match="need the netem qdisc.*NFQUEUE"):
        choose.place(plan, plan.links[0], BARE)
    with pytest.raises(LabError, match="need the netem qdisc"):
        choose.place(plan, plan.links[0], THIS_ONE, "kernel")
    red = plan.links[1].model_copy(update={"forward": Shaping(rate_bps=10**7, aqm="red")})
    with pytest.raises(LabError, match="the emulator has CoDel and FQ-CoDel, not red"):
        choose.place(plan, red, THIS_ONE)
    assert Topology.model_fields["impair_backend"].default == "auto"


def test_a_priority_queue_of_htb_classes():
    assert tc.unsupported(Shaping(rate_bps=10**6, aqm="prio"), Capabilities(qdiscs={"htb": True})) == []
    assert tc.unsupported(Shaping(aqm="prio"), Capabilities(qdiscs={"htb": True})) == ["prio needs the link's rate"]
    argv = [" ".join(c) for c in tc.commands("eth1", Shaping(rate_bps=1_500_000, queue_packets=100, aqm="prio"))]
    assert argv[0] == "tc qdisc add dev eth1 root handle 1: htb default 20"
    assert "tc class add dev eth1 parent 1:1 classid 1:10 htb rate 15000bit ceil 1500000bit prio 0 quantum 1514" in argv
    assert "tc qdisc add dev eth1 parent 1:20 handle 20: pfifo limit 100" in argv
    assert argv[-2].endswith("match ip protocol 1 0xff flowid 1:10")
    assert "not prio" in choose.emulator_unsupported(Shaping(rate_bps=10**6, aqm="prio"), THIS_ONE)[0]
