"""Which shaping back end a link gets, with and without netem, recorded on a fake netlink socket."""
from __future__ import annotations

from labctl.impair import tc
from labctl.kernel.probe import Capabilities
from labctl.plan import Shaping

WITH_NETEM = Capabilities(qdiscs={"netem": True, "tbf": True}, nft_egress=True)
NO_NETEM = Capabilities(qdiscs={"netem": False, "tbf": True}, nft_egress=True)
BARE = Capabilities(qdiscs={"netem": False, "tbf": True}, nft_egress=False)


class FakeIPRoute:
    def __init__(self):
        self.calls = []

    def index(self, ifname):
        return 7

    def tc(self, command, kind=None, index=None, handle=None, **kwargs):
        self.calls.append((command, kind, handle, kwargs))


def test_what_each_kernel_can_do():
    delayed = Shaping(delay_ms=10, jitter_ms=2)
    assert tc.unsupported(delayed, WITH_NETEM) == []
    assert tc.unsupported(delayed, NO_NETEM) == ["delay/jitter need the netem qdisc (sch_netem), which this kernel lacks"]
    assert tc.unsupported(Shaping(loss_pct=1), NO_NETEM) == []
    assert "neither" in tc.unsupported(Shaping(loss_pct=1), BARE)[0]
    assert tc.unsupported(Shaping(rate_bps=10**7, queue_packets=20), BARE) == []


def test_netem_under_tbf_with_netem(monkeypatch):
    ipr = FakeIPRoute()
    monkeypatch.setattr(tc, "_nft_loss", lambda *a: (_ for _ in ()).throw(AssertionError("no nft with netem")))
    tc.apply(ipr, "lab.r1", "eth0", Shaping(rate_bps=10**7, delay_ms=20, jitter_ms=5, loss_pct=1.5,
                                             queue_packets=50), WITH_NETEM)
    adds = [c for c in ipr.calls if c[0] == "add"]
    assert [(c[1], c[2]) for c in adds] == [("tbf", tc.ROOT), ("netem", tc.NETEM_UNDER_TBF)]
    assert adds[0][3]["rate"] == "10000000bit" and adds[0][3]["limit"] == 50 * 1514
    assert adds[1][3] == {"parent": tc.ROOT + 1, "delay": 20000, "jitter": 5000, "loss": 1.5, "limit": 50}


def test_loss_falls_back_to_nftables_without_netem(monkeypatch):
    ipr, nft = FakeIPRoute(), []
    monkeypatch.setattr(tc, "_nft_loss", lambda ns, ifname, loss: nft.append((ns, ifname, loss)))
    tc.apply(ipr, "lab.r1", "eth0", Shaping(loss_pct=5), NO_NETEM)
    assert [c for c in ipr.calls if c[0] == "add"] == [] and nft == [("lab.r1", "eth0", 5)]
    tc.apply(ipr, "lab.r1", "eth0", Shaping(), NO_NETEM, replacing=True)     # clearing removes the rule
    assert nft[-1] == ("lab.r1", "eth0", None)
