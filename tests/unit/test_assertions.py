"""Each assertion against a faked demo lab: the commands it runs answer with real outputs (captured from the
demo and shaped labs), and both the passing and the failing case must read well."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.assertions.base import percentile
from labctl.scenario.outputs import iperf_intervals, parse_ping
from labctl.scenario.steps.assert_ import AssertStep
from tests.unit.fake_lab import FakeContext, ping_output

OUTPUTS = Path(__file__).parent / "outputs"


def step(name: str, **keys) -> AssertStep:
    return ASSERTIONS[name].model_validate(keys)


UNREACHABLE = """PING 10.0.9.9 (10.0.9.9) 56(84) bytes of data.
[1795294396.581843] From 10.0.0.1 icmp_seq=1 Destination Net Unreachable
[1795294396.785843] From 10.0.0.1 icmp_seq=2 Destination Net Unreachable

--- 10.0.9.9 ping statistics ---
3 packets transmitted, 0 received, +2 errors, 100% packet loss, time 407ms

"""

# --- reach, no_reach --------------------------------------------------------------------------------


def test_reach_passes_and_names_the_target():
    ctx = FakeContext({"ping": ping_output("10.0.1.3", [0.170, 0.094, 0.088])})
    seen = step("reach", **{"from": "h1", "to": "h4"}).check(ctx)
    assert seen.ok
    assert seen.expected == "h1 -> h4 (10.0.1.3) answers, no loss over 3 pings"
    assert seen.observed == "3/3 replies (0% loss)"
    assert "icmp_seq=3" in seen.evidence and seen.evidence.startswith("$ ping -4 -D -U -n -c 3 -i 0.2")
    assert ctx.ran[0][0] == "h1" and ctx.ran[0][1][-1] == "10.0.1.3"


def test_reach_fails_with_the_icmp_error_and_who_sent_it():
    ctx = FakeContext({"ping": subprocess.CompletedProcess([], 1, UNREACHABLE, "")})
    seen = step("reach", **{"from": "h1", "to": "10.0.9.9"}).check(ctx)
    assert not seen.ok
    assert seen.expected == "h1 -> 10.0.9.9 answers, no loss over 3 pings"
    assert seen.observed == "0/3 replies (100% loss), Destination Net Unreachable from r1 (10.0.0.1)"


def test_reach_tolerates_loss_up_to_max_loss():
    ctx = FakeContext({"ping": ping_output("10.0.1.3", [0.1, None, 0.1, 0.1])})
    assert step("reach", **{"from": "h1", "to": "h4", "count": 4, "max_loss": "25%"}).check(ctx).ok
    seen = step("reach", **{"from": "h1", "to": "h4", "count": 4, "max_loss": "10%"}).check(ctx)
    assert not seen.ok
    assert (seen.expected, seen.observed) == ("h1 -> h4 (10.0.1.3) answers, at most 10% loss over 4 pings",
                                              "3/4 replies (25% loss)")


def test_no_reach():
    blocked = FakeContext({"ping": subprocess.CompletedProcess([], 1, UNREACHABLE, "")})
    assert step("no_reach", **{"from": "h1", "to": "h3"}).check(blocked).ok
    reaching = FakeContext({"ping": ping_output("10.0.1.2", [0.1] * 3)})
    seen = step("no_reach", **{"from": "h1", "to": "h3"}).check(reaching)
    assert not seen.ok
    assert (seen.expected, seen.observed) == ("h1 -> h3 (10.0.1.2): no reply over 3 pings", "3/3 replies (0% loss)")


def test_ipv6_family_and_an_address_target():
    ctx = FakeContext({"ping": ping_output("10.0.1.3", [0.1] * 3)})
    reach = step("reach", **{"from": "h1", "to": "10.0.1.3", "family": 6})
    reach.check(ctx)
    assert "-6" in ctx.ran[0][1]
    assert [name for _, name in reach.node_refs()] == ["h1"]                      # an address is no node for the loader to check
    assert reach.describe(ctx) == "h1 -> 10.0.1.3 (h4)"


# --- path ---------------------------------------------------------------------------------------------

TRACE = """traceroute to 10.0.1.3 (10.0.1.3), 16 hops max, 60 byte packets
 1  10.0.0.1  0.059 ms
 2  10.255.0.1  0.029 ms
 3  10.0.1.3  0.032 ms
"""
TRACE_STOPPED = """traceroute to 10.0.1.3 (10.0.1.3), 16 hops max, 60 byte packets
 1  10.0.0.1  0.061 ms !N
"""


def test_path_via_and_avoid():
    ctx = FakeContext({"traceroute": TRACE})
    seen = step("path", **{"from": "h1", "to": "h4", "via": ["r1", "r2"], "avoid": ["h2"]}).check(ctx)
    assert seen.ok
    assert seen.expected == "h1 -> h4 (10.0.1.3) passes r1, r2 and avoids h2"
    assert seen.observed == "hops: r1, r2, h4"
    assert ctx.ran[0][1][:6] == ["traceroute", "-4", "-n", "-N", "1", "-q"]


def test_path_fails_naming_what_is_wrong():
    seen = step("path", **{"from": "h1", "to": "h4", "avoid": ["r2"]}).check(FakeContext({"traceroute": TRACE}))
    assert not seen.ok and seen.observed == "hops: r1, r2, h4; passes r2"
    seen = step("path", **{"from": "h1", "to": "h4", "via": ["r2"]}).check(FakeContext({"traceroute": TRACE_STOPPED}))
    assert not seen.ok and seen.observed == "hops: r1; h4 not reached; r2 missing"


def test_path_checks_its_nodes():
    path = step("path", **{"from": "h1", "to": "h4", "via": ["r1"], "avoid": ["r9"]})
    assert [name for _, name in path.node_refs()] == ["h1", "h4", "r1", "r9"]


# --- rtt ----------------------------------------------------------------------------------------------

RTTS = [round(0.08 + 0.01 * i, 3) for i in range(19)] + [12.5]       # 19 fast replies and one slow


def test_rtt_percentiles_and_series():
    ctx = FakeContext({"ping": ping_output("10.0.1.3", RTTS)})
    seen = step("rtt", **{"from": "h1", "to": "h4", "p95": "1ms", "max": "20ms"}).check(ctx)
    assert seen.ok
    assert seen.expected == "h1 -> h4 (10.0.1.3) over 20 pings: p95 at most 1 ms, max at most 20 ms"
    assert seen.observed == "p50 0.170 ms, p95 0.260 ms, p99 12.5 ms, max 12.5 ms; 20/20 replies (0% loss)"
    times = [t for t, _ in seen.series["rtt ms"]]
    assert [rtt for _, rtt in seen.series["rtt ms"]] == RTTS
    assert times == sorted(times) and times[1] - times[0] == pytest.approx(0.204, abs=1e-3)


def test_rtt_fails_on_the_threshold_it_breaks():
    ctx = FakeContext({"ping": ping_output("10.0.1.3", RTTS)})
    seen = step("rtt", **{"from": "h1", "to": "h4", "p99": "5ms"}).check(ctx)
    assert not seen.ok
    assert seen.observed.startswith("p99 12.5 ms is above 5 ms; p50 0.170 ms")
    nothing = step("rtt", **{"from": "h1", "to": "h4", "p99": "5ms"}).check(
        FakeContext({"ping": subprocess.CompletedProcess([], 1, UNREACHABLE, "")}))
    assert not nothing.ok
    assert nothing.observed == "no replies: 0/3 replies (100% loss), Destination Net Unreachable from r1 (10.0.0.1)"


def test_percentile_is_nearest_rank():
    assert percentile([3, 1, 2, 4], 50) == 2 and percentile([1, 2, 3, 4], 95) == 4 and percentile([7], 99) == 7


# --- throughput ----------------------------------------------------------------------------------------

SERVER = "-----------------------------------------------------------\nServer listening on 5201 (test #1)\n"


def iperf3(name: str) -> Callable[[list[str]], subprocess.CompletedProcess]:
    return lambda argv: subprocess.CompletedProcess(argv, 0, (OUTPUTS / name).read_text(), "")


def test_throughput_tcp_on_a_5mbit_link():
    ctx = FakeContext({"iperf3": iperf3("iperf3_tcp_5mbit.json")}, {"iperf3": SERVER})
    seen = step("throughput", **{"from": "h1", "to": "h4", "min": "4mbit", "max": "6mbit"}).check(ctx)
    assert seen.ok
    assert seen.expected == "h1 -> h4 (10.0.1.3) TCP throughput at least 4 and at most 6 Mbit/s over 3 s"
    assert seen.observed == "4.79 Mbit/s received over 2.02 s"
    assert [round(v, 2) for _, v in seen.series["throughput Mbit/s"]] == [4.45, 3.59, 6.35, 4.77, 5.19]
    assert "receiver" in seen.evidence
    (node, argv, server), = ctx.started
    assert node == "h4" and argv[:3] == ["iperf3", "-s", "-1"] and server.poll() is not None   # reaped


def test_throughput_below_min_and_udp_loss():
    ctx = FakeContext({"iperf3": iperf3("iperf3_udp_loss.json")}, {"iperf3": SERVER})
    seen = step("throughput", **{"from": "h2", "to": "h3", "protocol": "udp", "bandwidth": "10mbit", "min": "8mbit"}).check(ctx)
    assert not seen.ok
    assert seen.observed == "6.35 Mbit/s received over 1.25 s, 179/863 datagrams lost (20.7%): below 8 Mbit/s"
    assert ctx.ran[0][1][-3:] == ["-u", "-b", "10000000"]
    assert ctx.started[0][2].poll() is not None


def test_throughput_reports_iperf3_errors_and_stops_the_server():
    error = json.dumps({"start": {}, "intervals": [], "end": {},
                        "error": "unable to connect to server: No route to host"})
    ctx = FakeContext({"iperf3": error}, {"iperf3": SERVER})
    seen = step("throughput", **{"from": "h1", "to": "h4", "min": "1mbit"}).check(ctx)
    assert not seen.ok and seen.observed == "iperf3 failed: unable to connect to server: No route to host"
    assert ctx.started[0][2].poll() is not None


def test_throughput_server_that_does_not_start():
    def crashed(self, node, argv):
        return subprocess.Popen(["sh", "-c", "echo 'iperf3: error - unable to start listener: Address in use'"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ctx = FakeContext()
    ctx.popen = crashed.__get__(ctx)
    seen = step("throughput", **{"from": "h1", "to": "h4"}).check(ctx)
    assert not seen.ok and seen.observed == "the iperf3 server did not start" and "Address in use" in seen.evidence


def test_iperf_interval_lines():
    text = """[  5]   0.00-0.50   sec   551 KBytes  9.03 Mbits/sec   67    124 KBytes
[  5]   1.00-1.50   sec  0.00 Bytes  0.00 bits/sec   69   15.6 KBytes
[  5]   0.50-1.00   sec   478 KBytes  7.83 Mbits/sec  0.008 ms  93/431 (22%)
[  5]   0.00-1.60   sec  1.20 MBytes  6.33 Mbits/sec  261             sender
"""
    assert iperf_intervals(text) == [(0.5, 9.03, None), (1.5, 0.0, None), (1.0, 7.83, pytest.approx(21.58, 0.01))]


# --- tcp ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("printed, expect, ok, observed", [
    ("open connected", "open", True, "open (connected)"),
    ("refused reset by the host", "open", False, "refused (reset by the host)"),
    ("blocked no answer in 2 s", "blocked", True, "blocked (no answer in 2 s)"),
    ("blocked No route to host", "refused", False, "blocked (No route to host)"),
])
def test_tcp(printed, expect, ok, observed):
    ctx = FakeContext({"python3": printed + "\n"})
    seen = step("tcp", **{"from": "h1", "to": "h4", "port": 80, "expect": expect}).check(ctx)
    assert (seen.ok, seen.observed) == (ok, observed)
    assert seen.expected == f"h1 -> h4 (10.0.1.3) port 80 is {expect}"
    assert ctx.ran[0][1][-3:] == ["10.0.1.3", "80", "2"]


def test_tcp_when_python_fails():
    ctx = FakeContext({"python3": subprocess.CompletedProcess([], 127, "", "python3: not found")})
    seen = step("tcp", **{"from": "h1", "to": "h4", "port": 80}).check(ctx)
    assert not seen.ok and seen.observed == "the connect test failed (exit 127): python3: not found"


# --- parsing --------------------------------------------------------------------------------------------

def test_parse_ping_without_summary_counts_sequence_numbers():
    out = parse_ping("[1.0] 64 bytes from 10.0.1.3: icmp_seq=1 ttl=62 time=0.1 ms\n[1.2] no answer yet for icmp_seq=2\n"
                     "[1.4] 64 bytes from 10.0.1.3: icmp_seq=3 ttl=62 time=0.1 ms\n")
    assert (out.transmitted, out.received, round(out.loss)) == (3, 2, 33)
    assert parse_ping("ping: connect: Network is unreachable\n").problem == "connect: Network is unreachable"


@pytest.mark.parametrize("name, keys, message", [
    ("outage", {"stream": "p"}, "give max"),
    ("reach", {"from": "h1", "to": "h4", "max_loss": "150%"}, "between 0 and 100"),
    ("rtt", {"from": "h1", "to": "h4", "p95": "fast"}, "expected a duration"),
    ("tcp", {"from": "h1", "to": "h4"}, "port"),
    ("throughput", {"from": "h1", "to": "h4", "min": "lots"}, "expected a rate"),
])
def test_bad_keys_are_refused(name, keys, message):
    with pytest.raises(ValueError, match=message):
        step(name, **keys)


def test_rtt_within_a_range_shows_a_bloated_queue():
    answers = {"ping": ping_output("10.0.1.3", [600.0 + i for i in range(20)])}
    bloated = step("rtt", **{"from": "h1", "to": "h4", "p50": {"min": "500ms", "max": "900ms"}}).check(FakeContext(answers))
    assert bloated.ok and bloated.expected.endswith("p50 at least 500 and at most 900 ms")
    low = step("rtt", **{"from": "h1", "to": "h4", "p50": {"min": "700ms"}}).check(FakeContext(answers))
    assert not low.ok and low.observed.startswith("p50 609 ms is below 700 ms")
