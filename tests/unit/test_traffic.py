"""Background flows against a faked demo lab: their processes print real-looking output and must be stopped by
pid; the records and the outage assertion read the samples."""
from __future__ import annotations

import subprocess
import time

import pytest

from labctl.scenario import traffic
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.flows.http import HttpFlow
from labctl.scenario.steps.traffic import TrafficStep
from tests.unit.fake_lab import FakeContext

REPLY_AT = [0.05, 0.15, 0.25, 1.45, 1.55]          # seconds after the flow started: 1.2 s without replies


def ping_flow_output(argv: list[str]) -> str:
    """What `ping -D -O` prints, stamped from now on: replies at REPLY_AT, unanswered probes between."""
    now, lines = time.time(), []
    for seq in range(1, 17):
        at = 0.05 + 0.1 * (seq - 1)
        if any(abs(at - r) < 1e-6 for r in REPLY_AT):
            lines.append(f"[{now + at:.6f}] 64 bytes from 10.0.1.3: icmp_seq={seq} ttl=62 time=0.{seq:03d} ms")
        else:
            lines.append(f"[{now + at + 0.1:.6f}] no answer yet for icmp_seq={seq}")
    return "PING 10.0.1.3 (10.0.1.3) 56(84) bytes of data.\n" + "\n".join(lines) + "\n"


def start(ctx, **keys) -> str:
    return traffic.start(ctx, TrafficStep.model_validate({"action": "start"} | keys))


def stop(ctx, id: str) -> str:
    return traffic.stop(ctx, TrafficStep.model_validate({"action": "stop", "id": id}))


def wait_until(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def outage(**keys):
    return ASSERTIONS["outage"].model_validate(keys)


@pytest.fixture
def ping_ctx():
    ctx = FakeContext(printed={"ping": ping_flow_output})
    assert start(ctx, id="p", type="ping", **{"from": "h1", "to": "h4"}) == \
        "started ping h1 -> h4 (10.0.1.3) every 0.1 s (traffic 'p')"
    flow = ctx.flows["p"]
    wait_until(lambda: len(flow.replies) == 5)
    ctx.t0 -= 2.0                                  # two seconds pass
    yield ctx
    traffic.stop_all(ctx)
    assert ctx.all_stopped()


def test_ping_flow_runs_the_real_command(ping_ctx):
    (node, argv, _), = ping_ctx.started
    assert node == "h1" and argv == ["ping", "-D", "-U", "-n", "-O", "-i", "0.1", "10.0.1.3"]


def test_outage_on_a_running_flow(ping_ctx):
    flow = ping_ctx.flows["p"]
    seen = outage(stream="p", max="3s").check(ping_ctx)
    assert seen.ok
    assert seen.expected == "ping h1 -> h4 (10.0.1.3) every 0.1 s: replies never stop for more than 3 s"
    start = flow.started
    assert seen.observed == (f"longest gap 1.20 s, from {start + 0.25:.1f} s to {start + 1.45:.1f} s; 5 replies, "
                             "11 lost (flow still running)")
    (a, b), (c, d) = seen.series["outage"]          # the silence so far counts too: 0.5 s since the last reply
    assert (a - start, b - start) == (pytest.approx(0.25, abs=0.01), pytest.approx(1.45, abs=0.01))
    assert (c - start, d - start) == (pytest.approx(1.55, abs=0.01), pytest.approx(2.0, abs=0.05))
    assert len(seen.series["rtt ms"]) == 5 and "1.20 s without replies" in seen.evidence


def test_outage_after_the_flow_stopped(ping_ctx):
    line = stop(ping_ctx, "p")
    assert line.startswith("stopped ping h1 -> h4 (10.0.1.3) every 0.1 s after 2.0 s: 5 replies, 11 lost, "
                           "longest gap 1.20 s")
    assert ping_ctx.all_stopped()
    failed = outage(stream="p", max="0.1s").check(ping_ctx)
    assert not failed.ok and failed.observed.endswith("5 replies, 11 lost")
    happened = outage(stream="p", min="1s", max="2s").check(ping_ctx)
    assert happened.ok and happened.expected.endswith(": an outage of at least 1 s and at most 2 s")
    assert not outage(stream="p", min="1.5s").check(ping_ctx).ok


def test_outage_counts_the_silence_up_to_the_end():
    ctx = FakeContext(printed={"ping": "PING 10.0.1.3 (10.0.1.3) 56(84) bytes of data.\n"})
    start(ctx, id="p", type="ping", **{"from": "h1", "to": "h4"})
    ctx.t0 -= 1.0
    seen = outage(stream="p", max="0.5s").check(ctx)
    assert not seen.ok and seen.observed.startswith("longest gap 1.00 s, from 0.0 s to 1.0 s; 0 replies")
    traffic.stop_all(ctx)


def test_outage_needs_a_ping_flow():
    with pytest.raises(RuntimeError, match="outage needs a ping traffic flow with id 'x'; started: none"):
        outage(stream="x", max="1s").check(FakeContext())


SERVER = """-----------------------------------------------------------
Server listening on 5202 (test #1)
-----------------------------------------------------------
Accepted connection from 10.0.0.3, port 59800
[  5] local 10.0.1.2 port 5202 connected to 10.0.0.3 port 59810
[ ID] Interval           Transfer     Bitrate
[  5]   0.00-0.50   sec   298 KBytes  4.89 Mbits/sec
[  5]   0.50-1.00   sec   297 KBytes  4.87 Mbits/sec
[  5]   1.00-1.50   sec   299 KBytes  4.90 Mbits/sec
"""
CLIENT = """Connecting to host 10.0.1.2, port 5202
[  5] local 10.0.0.3 port 59810 connected to 10.0.1.2 port 5202
"""


def test_iperf3_flow():
    ctx = FakeContext(printed={"iperf3": lambda argv: SERVER if "-s" in argv else CLIENT})
    assert start(ctx, id="i", type="iperf3", bandwidth="5mbit", **{"from": "h2", "to": "h3"}) == \
        "started iperf3 TCP h2 -> h3 port 5202 (traffic 'i')"
    (server_node, server, _), (client_node, client, _) = ctx.started
    assert (server_node, server[:4]) == ("h3", ["iperf3", "-s", "-p", "5202"])
    assert client_node == "h2" and client[-4:] == ["-t", "0", "-b", "5000000"]
    flow = ctx.flows["i"]
    wait_until(lambda: len(flow.intervals) == 3)
    assert stop(ctx, "i").endswith(": 4.89 Mbit/s on average over 3 intervals")
    record, = traffic.stop_all(ctx)
    assert ctx.all_stopped()
    assert [v for _, v in record.series["throughput Mbit/s"]] == [4.89, 4.87, 4.90]
    assert (record.kind, record.src, record.dst) == ("iperf3", "h2", "h3")
    assert "Server listening" in record.output and "connected to" in record.output


def test_http_flow_requests_the_web_service_of_to():
    answers = iter(["200 0.001200", "000 0.000100"] * 100)
    ctx = FakeContext({"curl": lambda argv: subprocess.CompletedProcess(argv, 0, next(answers), "")})
    assert start(ctx, id="w", type="http", interval="0.05s", **{"from": "h1", "to": "h4"}) == \
        "started http h1 -> h4:80 every 0.05 s (traffic 'w')"
    flow = ctx.flows["w"]
    wait_until(lambda: len(flow.requests) >= 4)
    assert "started" not in stop(ctx, "w") and flow.summary().endswith("failed, median 1.20 ms")
    record, = traffic.stop_all(ctx)
    assert ctx.started == []                                   # nothing to start: h4's web service answers
    assert ctx.ran[0] == ("h1", HttpFlow.CURL + ["http://10.0.1.3:80/"])
    assert set(v for _, v in record.series["http ms"]) == {1.2} and record.series["http failed"]
    assert record.output.startswith("curl requests (scenario time: HTTP code, seconds taken):\n")


def test_http_flow_to_a_node_without_web_needs_a_port():
    ctx = FakeContext({"curl": "200 0.001"})
    with pytest.raises(RuntimeError, match=r"h2 runs no web service; add `services: \[web\]`"):
        start(ctx, id="w", type="http", **{"from": "h1", "to": "h2"})
    assert start(ctx, id="x", type="http", port=8080, **{"from": "h1", "to": "h2"}).startswith(
        "started http h1 -> h2:8080")
    traffic.stop_all(ctx)


def test_a_flow_that_fails_to_start_leaves_nothing_running():
    ctx = FakeContext(printed={"iperf3": "iperf3: error - unable to start listener: Address in use\n"}, exits={"iperf3"})
    with pytest.raises(RuntimeError, match="the iperf3 server of traffic 'w' did not start: iperf3: error"):
        start(ctx, id="w", type="iperf3", **{"from": "h1", "to": "h4"})
    assert ctx.all_stopped() and "w" not in ctx.flows


def test_start_and_stop_misuse():
    ctx = FakeContext(printed={"ping": ""})
    start(ctx, id="p", type="ping", **{"from": "h1", "to": "h4"})
    with pytest.raises(RuntimeError, match="already started"):
        start(ctx, id="p", type="ping", **{"from": "h1", "to": "h4"})
    with pytest.raises(ValueError, match="start needs type"):      # refused when the file is loaded
        start(ctx, id="q", type="ping", **{"from": "h1"})
    with pytest.raises(RuntimeError, match="no traffic 'z' was started; started: p"):
        stop(ctx, "z")
    records = traffic.stop_all(ctx)
    assert [r.id for r in records] == ["p"] and records[0].stopped is not None and ctx.all_stopped()
    assert traffic.stop_all(ctx) == records          # stopping again changes nothing


def test_a_ping_flow_that_ended_by_itself():
    ctx = FakeContext(printed={"ping": ping_flow_output}, exits={"ping"})
    start(ctx, id="p", type="ping", duration="2s", **{"from": "h1", "to": "h4"})
    flow = ctx.flows["p"]
    assert ctx.started[0][1][-2:] == ["-w", "2"]
    wait_until(lambda: flow.process.ended is not None)
    ctx.t0 -= 5.0                                  # long after ping ended: the silence since does not count
    assert outage(stream="p", max="1.5s").check(ctx).observed.startswith("longest gap 1.20 s")
    assert traffic.stop_all(ctx)[0].stopped == flow.process.ended


def test_flow_rate_averages_the_intervals_after_its_start():
    ctx = FakeContext(printed={"iperf3": lambda argv: SERVER if "-s" in argv else CLIENT})
    start(ctx, id="i", type="iperf3", **{"from": "h2", "to": "h3"})
    wait_until(lambda: len(ctx.flows["i"].intervals) == 3)
    traffic.stop_all(ctx)
    rate = ASSERTIONS["flow_rate"].model_validate
    fast = rate({"stream": "i", "after": "0.6s", "min": "4.88mbit"}).check(ctx)
    assert fast.ok and fast.observed.startswith("4.88 Mbit/s on average over 2 intervals"), fast.observed
    assert fast.expected == "iperf3 TCP h2 -> h3 port 5202: at least 4.88 Mbit/s after its first 0.6 s"
    slow = rate({"stream": "i", "max": "4mbit"}).check(ctx)
    assert not slow.ok and slow.observed == "4.89 Mbit/s on average over 3 intervals: above 4 Mbit/s"
    late = rate({"stream": "i", "after": "10s"}).check(ctx)
    assert not late.ok and late.observed == "no intervals after 10 s yet"


def test_flow_rate_needs_an_iperf3_flow():
    with pytest.raises(RuntimeError, match="flow_rate needs an iperf3 traffic flow with id 'x'; started: none"):
        ASSERTIONS["flow_rate"].model_validate({"stream": "x"}).check(FakeContext())
