"""labctl's link emulator (`labctl emulate`, NFQUEUE) and kernel back end (tc) on the dumbbell h1 -- r1 == r2 -- h2:
how much traffic the emulator carries and what it costs in CPU, and how exactly each back end keeps a rate, a queue
and a delay. Needs root and iperf3. `make bench` runs it after cli_up.py; `.venv/bin/python bench/emulator.py --quick
--no-save` for a quick look. What the figures mean: bench/README.md."""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import observe
import yaml
from rich.console import Console
from rich.table import Table

from labctl.impair import tc
from labctl.kernel.probe import probe
from labctl.paths import NETNS_DIR, STATE_DIR
from labctl.topology.shaping import LinkShaping

LABCTL = str(Path(sys.executable).with_name("labctl"))
LABS = {"ceiling": "bench-emu-max", "rate": "bench-rate-{}", "delay": "bench-delay-{}"}   # at most 15 characters
BACKENDS = ("kernel", "emulator")

TARGET_CEILING_MBIT = 100.0     # the emulator carries at least 100 Mbit/s ...
TARGET_CEILING_LOSS_PCT = 1.0   # ... losing under 1 %
TARGET_ERROR_PCT = 5.0          # rate, queueing delay and delay within 5 % of what was asked

RATES_MBIT = (50, 100, 200, 400, 800, 1200, 1600)
DATAGRAM = 1400                 # UDP payload of the ceiling's flows: 1442-byte frames
FULL_DATAGRAM = 1472            # UDP payload of a full frame (1514 bytes), for the saturated queue
FRAME = 1514
RATE_BPS = 10e6                 # the accuracy lab: rate 10mbit, queue 100
QUEUE = 100
EXPECTED_QUEUE_MS = QUEUE * FRAME * 8 / RATE_BPS * 1000     # 121.1 ms: a full queue of full frames drains
DELAY_MS = 10.0                 # the delay lab: 10 ms each way
EXPECTED_RTT_MS = 2 * DELAY_MS


@dataclass
class Profile:
    """How long each measurement takes: the default run, or --quick's smoke run."""
    rates: tuple[int, ...]
    flow_s: int             # each ceiling flow
    tcp_s: int              # the rate lab's TCP flow, after `tcp_omit_s` of slow start left out
    tcp_omit_s: int
    flood_s: float          # the saturating UDP flow ...
    flood_settle_s: float   # ... and how long it runs before the pings start
    queue_pings: int        # at 50 ms intervals, under the flood
    delay_pings: int        # at 10 ms intervals, idle
    backends: tuple[str, ...]


FULL = Profile(RATES_MBIT, 3, 5, 1, 4.0, 1.0, 40, 200, BACKENDS)
QUICK = Profile((100,), 1, 1, 0, 2.0, 0.7, 15, 50, ("emulator",))


# -- running things in the lab ---------------------------------------------------------------------------------

def labctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run([LABCTL, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"labctl {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}")
    return done


def in_node(lab: str, node: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", f"{lab}.{node}", *cmd]


def status(lab: str) -> dict:
    return json.loads(labctl("status", lab, "--json").stdout)[lab]


@dataclass
class Lab:
    name: str
    backend: str
    shaped_by: list[str]
    emulator_pid: int | None


@contextmanager
def dumbbell(name: str, backend: str, folder: Path, **conditions) -> Iterator[Lab]:
    """h1 -- r1 == r2 -- h2, the conditions on r1 == r2 in both directions, shaped by `backend`; always taken down."""
    topology = {"name": name, "impair_backend": backend,
                "nodes": {"h1": "host", "h2": "host", "r1": "router", "r2": "router"},
                "links": [["h1", "r1"], {"endpoints": ["r1", "r2"], **conditions}, ["r2", "h2"]]}
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(topology, sort_keys=False))
    try:
        labctl("up", str(path), "-q")
        state = status(name)
        shaped_by = state["links"][1]["shaped_by"]
        word = "emulator" if backend == "emulator" else "kernel"
        if len(shaped_by) != 2 or not all(word in s for s in shaped_by):
            raise RuntimeError(f"lab {name}: r1 == r2 should be shaped by the {backend} back end: {shaped_by}")
        pids = [s["pid"] for s in state["services"] if s["name"] == "link-emulator" and s["state"] == "running"]
        if backend == "emulator" and len(pids) != 1:
            raise RuntimeError(f"lab {name}: no running link-emulator service: {state['services']}")
        yield Lab(name, backend, shaped_by, pids[0] if pids else None)
    finally:
        if (STATE_DIR / name).exists():
            done = subprocess.run([LABCTL, "down", name], capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                print(f"`labctl down {name}` failed:\n{done.stdout}{done.stderr}", file=sys.stderr)


def wait_listening(lab: str, node: str, port: int = 5201, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(in_node(lab, node, "ss", "-Hltn", f"sport = :{port}"), capture_output=True,
                             text=True).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise RuntimeError(f"iperf3 server on {lab}.{node} not listening after {timeout:g} s")


@contextmanager
def iperf_server(lab: str, node: str = "h2") -> Iterator[None]:
    """`iperf3 -s -1` on `node`, for one client; killed (by its pid) if it has not ended by itself."""
    server = subprocess.Popen(in_node(lab, node, "iperf3", "-s", "-1", "--idle-timeout", "30"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(lab, node)
        yield
    finally:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def iperf(lab: str, seconds: float, *options: str) -> dict:
    """An iperf3 flow h1 -> h2, its JSON report."""
    with iperf_server(lab):
        done = subprocess.run(in_node(lab, "h1", "iperf3", "-c", "h2", "-J", "-t", f"{seconds:g}", *options),
                              capture_output=True, text=True, timeout=seconds + 60)
    report = json.loads(done.stdout)
    if "error" in report:
        raise RuntimeError(f"iperf3 on {lab}: {report['error']}")
    return report


def ping_rtts(lab: str, count: int, interval: float) -> list[float]:
    """`ping -U` h1 -> h2 (user-to-user round trips), in ms."""
    out = subprocess.run(in_node(lab, "h1", "ping", "-U", "-n", "-c", str(count), "-i",
                                 f"{interval:g}", "-W", "2", "h2"),
                         capture_output=True, text=True, timeout=count * interval + 30).stdout
    return [float(t) for t in re.findall(r"time=([\d.]+) ms", out)]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- what the processes cost -----------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/PID/stat (utime and stime, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


_COUNTERS = re.compile(r"^(?P<dir>.+?): labctl emulator: .*?(?P<inn>\d+) packets in, (?P<out>\d+) out, "
                       r"(?P<drop>\d+) dropped")


def emulator_counters(lab: str) -> dict[str, dict[str, int]]:
    """Per direction of r1 == r2: the emulator's packets in, out and dropped (its stats, written each second)."""
    found = {}
    for line in status(lab)["links"][1]["counters"]:
        if m := _COUNTERS.match(line):
            found[m["dir"]] = {"in": int(m["inn"]), "out": int(m["out"]), "dropped": int(m["drop"])}
    return found


def nfqueue_dropped(lab: str, node: str) -> int:
    """Packets the kernel dropped at the NFQUEUEs in `node` (queue full, or failed to reach the emulator), from
    /proc/net/netfilter/nfnetlink_queue: its 6th and 7th columns."""
    text = subprocess.run(in_node(lab, node, "cat", "/proc/net/netfilter/nfnetlink_queue"), capture_output=True,
                          text=True).stdout
    return sum(int(f[5]) + int(f[6]) for f in map(str.split, text.splitlines()) if len(f) >= 7)


# -- the measurements -----------------------------------------------------------------------------------------

def ceiling_run(lab: Lab, protocol: str, offered_mbit: int | None, seconds: int,
                before: dict[str, dict[str, int]]) -> tuple[dict, dict[str, dict[str, int]]]:
    """One flow h1 -> h2 through the emulator (delay 1 ms, no rate): what got through, and what it cost."""
    options = ["-u", "-b", f"{offered_mbit}M", "-l", str(DATAGRAM)] if protocol == "udp" else []
    queue_drops = nfqueue_dropped(lab.name, "r2")        # r1 -> r2 is emulated as it enters r2
    cpu0, (busy0, total0) = process_cpu_s(lab.emulator_pid), observe.machine_ticks()
    report = iperf(lab.name, seconds, *options)
    cpu, (busy1, total1) = process_cpu_s(lab.emulator_pid) - cpu0, observe.machine_ticks()
    queue_drops = nfqueue_dropped(lab.name, "r2") - queue_drops
    time.sleep(1.2)                                 # the emulator writes its counters each second
    after = emulator_counters(lab.name)
    packets = {d: {k: after[d][k] - before.get(d, {}).get(k, 0) for k in after[d]} for d in after}
    through = sum(p["out"] for p in packets.values())
    end = report["end"]
    received, sent = end["sum_received"], end["sum_sent"]
    duration = received["seconds"] or seconds
    sample = {"protocol": protocol, "offered_mbit": offered_mbit, "seconds": duration,
              "sent_mbit": sent["bits_per_second"] / 1e6, "received_mbit": received["bits_per_second"] / 1e6,
              "emulator_packets": packets, "packets_per_s": through / duration,
              "emulator_cpu_s": cpu, "emulator_cpu_pct": 100 * cpu / duration,
              "emulator_cpu_s_per_100k_packets": cpu / through * 1e5 if through else None,
              "emulator_cpu_ms_per_mbit": 1000 * cpu / (received["bits_per_second"] / 1e6 * duration),
              "machine_busy_pct": 100 * (busy1 - busy0) / max(1, total1 - total0)}
    if protocol == "udp":
        forward = packets.get("r1 -> r2", {})
        # where they were lost: in the emulator (its NFQUEUE full, as the kernel counts; or dropped by it: none
        # without a rate or loss), before it (never reached r2), or after it (on the way to, or in, h2's iperf3:
        # its socket buffer full). The emulator also carries iperf3's control connection (some 15 packets each
        # way), hence the max(0, ...).
        sample |= {"sent_packets": sent.get("packets"), "lost_packets": received.get("lost_packets"),
                   "loss_pct": received.get("lost_percent"), "nfqueue_dropped": queue_drops}
        if forward and sent.get("packets") and "lost_packets" in received:
            in_it = queue_drops + forward["dropped"]
            before_it = max(0, sent["packets"] - forward["in"] - queue_drops)
            sample |= {"dropped_by_emulator": forward["dropped"], "emulator_loss_pct": 100 * in_it / sent["packets"],
                       "lost_before_emulator": before_it,
                       "lost_after_emulator": max(0, received["lost_packets"] - in_it - before_it)}
    else:
        sample |= {"retransmits": sent.get("retransmits"), "loss_pct": None}
    return sample, after


def measure_ceiling(folder: Path, profile: Profile, console: Console) -> list[dict]:
    samples = []
    with dumbbell(LABS["ceiling"], "emulator", folder, delay="1ms") as lab:
        counters = emulator_counters(lab.name)
        flows = [("udp", rate) for rate in profile.rates] + [("tcp", None)]
        for protocol, rate in flows:
            sample, counters = ceiling_run(lab, protocol, rate, profile.flow_s, counters)
            samples.append(sample)
            console.print(f"    {flow_label(sample)}: {sample['received_mbit']:.0f} Mbit/s received"
                          + (f", {sample['loss_pct']:.2f} % lost" if sample["loss_pct"] is not None else "")
                          + f", {sample['packets_per_s'] / 1000:.1f} k packets/s, "
                            f"emulator CPU {sample['emulator_cpu_pct']:.0f} %", highlight=False)
    return samples


def wire_mbit(goodput_bps: float, mss: int) -> float:
    """TCP goodput as the frames that carried it: each full segment is MSS + 66 bytes on the wire (TCP with
    timestamps 32, IPv4 20, Ethernet 14), which the link's rate counts."""
    return goodput_bps * (mss + 66) / mss / 1e6


def measure_rate(folder: Path, backend: str, profile: Profile) -> dict:
    """rate 10mbit, queue 100: a TCP flow's throughput, then the RTT behind a full queue (UDP at twice the rate)."""
    with dumbbell(LABS["rate"].format(backend[0]), backend, folder, rate="10mbit", queue=QUEUE) as lab:
        omit = ["-O", str(profile.tcp_omit_s)] if profile.tcp_omit_s else []
        tcp = iperf(lab.name, profile.tcp_s, "-C", "cubic", *omit)
        mss = tcp["start"].get("tcp_mss_default") or 1448
        goodput = tcp["end"]["sum_received"]["bits_per_second"]
        with iperf_server(lab.name):
            flood = subprocess.Popen(in_node(lab.name, "h1", "iperf3", "-c", "h2", "-u", "-b", "20M", "-l",
                                             str(FULL_DATAGRAM), "-t", f"{profile.flood_s:g}"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(profile.flood_settle_s)
                queued = ping_rtts(lab.name, profile.queue_pings, 0.05)
                flood.wait(timeout=profile.flood_s + 30)
            finally:
                if flood.poll() is None:
                    flood.kill()
                    flood.wait()
        rtt = statistics.median(queued) if queued else None
        return {"backend": backend, "shaped_by": lab.shaped_by, "tcp_seconds": profile.tcp_s,
                "tcp_omit_s": profile.tcp_omit_s, "mss": mss, "goodput_mbit": goodput / 1e6,
                "goodput_error_pct": error_pct(goodput / 1e6, RATE_BPS / 1e6),
                "wire_mbit": wire_mbit(goodput, mss), "wire_error_pct": error_pct(wire_mbit(goodput, mss), 10),
                "retransmits": tcp["end"]["sum_sent"].get("retransmits"),
                "saturated_rtts_ms": queued, "saturated_rtt_ms": rtt, "expected_queue_ms": EXPECTED_QUEUE_MS,
                "saturated_rtt_error_pct": error_pct(rtt, EXPECTED_QUEUE_MS)}


def measure_delay(folder: Path, backend: str, profile: Profile) -> dict:
    """delay 10ms each way, idle: `ping -U` every 10 ms."""
    with dumbbell(LABS["delay"].format(backend[0]), backend, folder, delay=f"{DELAY_MS:g}ms") as lab:
        rtts = ping_rtts(lab.name, profile.delay_pings, 0.01)
    med = statistics.median(rtts) if rtts else None
    return {"backend": backend, "shaped_by": lab.shaped_by, "pings": profile.delay_pings, "replies": len(rtts),
            "rtts_ms": rtts, "median_ms": med, "p99_ms": percentile(rtts, 99), "min_ms": min(rtts, default=None),
            "max_ms": max(rtts, default=None), "expected_ms": EXPECTED_RTT_MS,
            "median_error_pct": error_pct(med, EXPECTED_RTT_MS), "p99_error_pct": error_pct(percentile(rtts, 99),
                                                                                             EXPECTED_RTT_MS)}


def error_pct(value: float | None, expected: float) -> float | None:
    return None if value is None else 100 * (value - expected) / expected


def kernel_cannot(**conditions) -> list[str]:
    return tc.unsupported(LinkShaping.model_validate(conditions).shaping(), probe())


# -- the report -----------------------------------------------------------------------------------------------

def flow_label(sample: dict) -> str:
    return f"UDP {sample['offered_mbit']} Mbit/s" if sample["protocol"] == "udp" else "TCP (unlimited)"


def median_of(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(report: dict) -> None:
    """The medians over the runs, the ceiling, and the targets."""
    runs = report["runs"]
    ceiling = []
    for i, first in enumerate(runs[0]["ceiling"]):
        samples = [run["ceiling"][i] for run in runs]
        ceiling.append({"flow": flow_label(first), "protocol": first["protocol"],
                        "offered_mbit": first["offered_mbit"],
                        **{k: median_of(samples, k) for k in
                           ("sent_mbit", "received_mbit", "loss_pct", "packets_per_s", "emulator_cpu_pct",
                            "emulator_cpu_s", "emulator_cpu_s_per_100k_packets", "emulator_cpu_ms_per_mbit",
                            "machine_busy_pct", "retransmits", "emulator_loss_pct", "nfqueue_dropped",
                            "dropped_by_emulator", "lost_before_emulator", "lost_after_emulator")}})
    carried = [c for c in ceiling if c["protocol"] == "udp" and c["loss_pct"] is not None
               and c["loss_pct"] < TARGET_CEILING_LOSS_PCT]
    best = max(carried, key=lambda c: c["offered_mbit"], default=None)
    passed = [c for c in ceiling if c["protocol"] == "udp" and c["emulator_loss_pct"] is not None
              and c["emulator_loss_pct"] < TARGET_CEILING_LOSS_PCT]
    best_in = max(passed, key=lambda c: c["offered_mbit"], default=None)
    accuracy = {}
    for kind in ("rate", "delay"):
        for backend in BACKENDS:
            samples = [run[kind][backend] for run in runs if isinstance(run[kind].get(backend), dict)]
            skipped = next((run[kind][backend] for run in runs if isinstance(run[kind].get(backend), str)), None)
            keys = ("goodput_mbit", "goodput_error_pct", "wire_mbit", "wire_error_pct", "saturated_rtt_ms",
                    "saturated_rtt_error_pct", "retransmits") if kind == "rate" else \
                ("median_ms", "p99_ms", "min_ms", "max_ms", "median_error_pct", "p99_error_pct")
            accuracy.setdefault(kind, {})[backend] = {k: median_of(samples, k) for k in keys} if samples \
                else {"skipped": skipped or "not measured"}
    top = max((c["offered_mbit"] for c in ceiling if c["protocol"] == "udp"), default=None)
    report["summary"] = {"ceiling": ceiling, "accuracy": accuracy,
                         "ceiling_mbit": best and best["offered_mbit"],
                         "ceiling_is_highest_offered": best is not None and best["offered_mbit"] == top,
                         "emulator_only_ceiling_mbit": best_in and best_in["offered_mbit"],
                         "ceiling_received_mbit": best and best["received_mbit"]}
    targets = [{"figure": "emulator: highest offered UDP rate with < 1 % loss", "value": best and best["offered_mbit"],
                "unit": "Mbit/s", "target": f">= {TARGET_CEILING_MBIT:g} Mbit/s",
                "met": best is not None and best["offered_mbit"] >= TARGET_CEILING_MBIT,
                "highest_offered": report["summary"]["ceiling_is_highest_offered"]},
               {"figure": "emulator: highest offered UDP rate with < 1 % lost in the emulator [2]",
                "value": best_in and best_in["offered_mbit"], "unit": "Mbit/s", "target": "", "met": None,
                "highest_offered": best_in is not None and best_in["offered_mbit"] == top, "info": True}]
    for backend in BACKENDS:
        rate, delay = accuracy["rate"][backend], accuracy["delay"][backend]
        for figure, source, key in (("rate (TCP on the wire) vs 10 Mbit/s", rate, "wire_error_pct"),
                                    ("queueing delay (RTT at saturation) vs 121 ms", rate, "saturated_rtt_error_pct"),
                                    ("delay (idle RTT median) vs 20 ms", delay, "median_error_pct")):
            if "skipped" in source:
                targets.append({"figure": f"{backend}: {figure}", "value": None, "unit": "%",
                                "target": f"within {TARGET_ERROR_PCT:g} %", "met": None,
                                "skipped": source["skipped"]})
            else:
                value = source[key]
                targets.append({"figure": f"{backend}: {figure}", "value": value, "unit": "%",
                                "target": f"within {TARGET_ERROR_PCT:g} %",
                                "met": value is not None and abs(value) <= TARGET_ERROR_PCT})
    report["targets"] = targets


def fmt(value: float | None, unit: str = "", digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return "-"
    value = round(value, digits) + 0.0                  # no "-0.0"
    return f"{value:+.{digits}f}{unit}" if sign else f"{value:.{digits}f}{unit}"


def render(console: Console, report: dict) -> None:
    s, n = report["summary"], report["repeat"]
    table = Table(title=f"Link emulator throughput ceiling: r1 == r2 delay 1 ms, no rate, h1 -> h2 "
                        f"({report['profile']['flow_s']} s flows, {DATAGRAM}-byte datagrams; median of {n})")
    for column in ("flow", "sent [1]", "received", "loss", "in emulator [2]", "packets/s [3]", "emu CPU [4]",
                   "CPU/100k pkts", "machine [5]"):
        table.add_column(column, justify="left" if column == "flow" else "right")
    for c in s["ceiling"]:
        loss = fmt(c["loss_pct"], " %", 2) if c["protocol"] == "udp" else f"{fmt(c['retransmits'], '', 0)} retr."
        table.add_row(c["flow"], fmt(c["sent_mbit"], " Mbit/s", 0), fmt(c["received_mbit"], " Mbit/s", 0), loss,
                      fmt(c["emulator_loss_pct"], " %", 2),
                      fmt(c["packets_per_s"] and c["packets_per_s"] / 1000, " k", 1),
                      fmt(c["emulator_cpu_pct"], " %", 0), fmt(c["emulator_cpu_s_per_100k_packets"], " s", 2),
                      fmt(c["machine_busy_pct"], " %", 0))
    console.print(table)
    console.print("[1] what iperf3 sent (it may fall short of the offered rate when the machine is busy)\n"
                  "[2] sent packets lost in the emulator: its NFQUEUE full (the kernel's count in r2) or dropped by "
                  "it. The rest of the loss is\n    elsewhere, mostly at h2's iperf3, which shares the machine's "
                  "cores with the sender, the emulator and the kernel\n"
                  "[3] packets the emulator released, both directions (for TCP: data and ACKs)\n"
                  "[4] the link-emulator process's user + system CPU (/proc/PID/stat) over the flow, % of one core. "
                  "It polls through the last 1 ms\n    before each release, so it is near 100 % whenever it holds "
                  "packets: its cost per packet is best read at the highest rates\n"
                  "[5] all CPUs of the machine (/proc/stat), % of them all: iperf3, the kernel and others' work too",
                  markup=False, highlight=False)

    acc = s["accuracy"]
    table = Table(title=f"Accuracy per back end (median of {n}): rate 10mbit, queue {QUEUE}; delay {DELAY_MS:g}ms")
    for column in ("figure", "expected", "kernel (tc)", "error", "emulator", "error "):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def cells(kind: str, key: str, err: str | None, unit: str) -> list[str]:
        out = []
        for backend in BACKENDS:
            data = acc[kind][backend]
            if "skipped" in data:
                out += [f"- ({data['skipped']})" if len(data["skipped"]) < 26 else "-", ""]
            else:
                out += [fmt(data[key], unit, 2), fmt(data[err], " %", 1, sign=True) if err else ""]
        return out

    table.add_row("TCP goodput, rate 10mbit", "10 Mbit/s", *cells("rate", "goodput_mbit", "goodput_error_pct",
                                                                  " Mbit/s"))
    table.add_row("TCP on the wire [6]", "10 Mbit/s", *cells("rate", "wire_mbit", "wire_error_pct", " Mbit/s"))
    table.add_row("RTT at saturation, queue 100 [7]", f"{EXPECTED_QUEUE_MS:.1f} ms",
                  *cells("rate", "saturated_rtt_ms", "saturated_rtt_error_pct", " ms"))
    table.add_row("RTT median, delay 10ms [8]", f"{EXPECTED_RTT_MS:g} ms",
                  *cells("delay", "median_ms", "median_error_pct", " ms"))
    table.add_row("RTT p99, delay 10ms", f"{EXPECTED_RTT_MS:g} ms", *cells("delay", "p99_ms", "p99_error_pct", " ms"))
    console.print(table)
    p = report["profile"]
    console.print(f"[6] the goodput with each segment's headers (MSS + 66 bytes a frame): what the link's rate "
                  f"counts\n[7] ping -U every 50 ms ({p['queue_pings']}) behind UDP at 20 Mbit/s of full frames; "
                  f"expected {QUEUE} x {FRAME} bytes at 10 Mbit/s\n"
                  f"[8] {p['delay_pings']} ping -U every 10 ms, idle; expected twice the one-way delay",
                  markup=False, highlight=False)
    for backend in BACKENDS:
        for kind in ("rate", "delay"):
            if "skipped" in acc[kind][backend]:
                console.print(f"{backend}, {kind}: skipped ({acc[kind][backend]['skipped']})", markup=False,
                              highlight=False)

    targets = Table(title="Targets")
    for column in ("figure", "value", "target", ""):
        targets.add_column(column)
    for t in report["targets"]:
        if t["value"] is None:
            value = "-"
        elif t["unit"] == "Mbit/s":         # every rate offered was carried: the ceiling is higher still
            value = (">= " if t.get("highest_offered") else "") + f"{t['value']:g} Mbit/s"
        else:
            value = fmt(t["value"], " %", 1, sign=True)
        verdict = "" if t.get("info") else "skipped" if t.get("skipped") else "met" if t["met"] \
            else "[red]not met[/red]"
        targets.add_row(t["figure"], value, t["target"], verdict)
    console.print(targets)


# -- the run --------------------------------------------------------------------------------------------------

def our_names() -> list[str]:
    return [LABS["ceiling"]] + [LABS[k].format(b[0]) for k in ("rate", "delay") for b in BACKENDS]


def leftovers() -> list[str]:
    names = our_names()
    spaces = [p.name for p in NETNS_DIR.iterdir() if p.name.split(".")[0] in names] if NETNS_DIR.is_dir() else []
    states = [str(STATE_DIR / n) for n in names if (STATE_DIR / n).exists()]
    return sorted(spaces) + states


def preflight() -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/emulator.py needs root (it creates network namespaces)")
    if not shutil.which("iperf3"):
        raise SystemExit("bench/emulator.py needs iperf3")
    if left := leftovers():
        raise SystemExit(f"labs or namespaces of an earlier run exist ({', '.join(left[:3])}): "
                         f"`labctl down NAME` first")


def one_run(folder: Path, profile: Profile, console: Console) -> dict:
    run: dict = {"rate": {}, "delay": {}}
    console.print("  ceiling (emulator, delay 1ms):")
    run["ceiling"] = measure_ceiling(folder, profile, console)
    for backend in BACKENDS:
        if backend not in profile.backends:
            run["rate"][backend] = run["delay"][backend] = "--quick"
            continue
        for kind, measure, conditions in (("rate", measure_rate, {"rate": "10mbit", "queue": QUEUE}),
                                          ("delay", measure_delay, {"delay": f"{DELAY_MS:g}ms"})):
            missing = kernel_cannot(**conditions) if backend == "kernel" else []
            if missing:
                run[kind][backend] = f"this kernel cannot: {'; '.join(missing)}"
                continue
            run[kind][backend] = result = measure(folder, backend, profile)
            if kind == "rate":
                console.print(f"  {backend}, rate 10mbit: TCP {result['goodput_mbit']:.2f} Mbit/s, RTT at "
                              f"saturation {fmt(result['saturated_rtt_ms'], ' ms')}", highlight=False)
            else:
                console.print(f"  {backend}, delay 10ms: RTT median {fmt(result['median_ms'], ' ms', 2)}, "
                              f"p99 {fmt(result['p99_ms'], ' ms', 2)} ({result['replies']}/{result['pings']} "
                              f"replies)", highlight=False)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of everything (default 2, with --quick 1; medians reported)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one offered rate, 1 s flows, the emulator's accuracy only")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 2)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    console = Console(width=None if sys.stdout.isatty() else 140)
    preflight()
    profile = QUICK if args.quick else FULL
    report = {"benchmark": "emulator", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
              "repeat": args.repeat, "machine": observe.machine(), "profile": profile.__dict__,
              "iperf3": subprocess.run(["iperf3", "--version"], capture_output=True, text=True).stdout
              .splitlines()[0], "runs": []}
    report["machine"]["netem"] = not kernel_cannot(delay="10ms")
    t0 = time.perf_counter()
    status_code = 0
    try:
        with tempfile.TemporaryDirectory(prefix="labctl-bench-") as folder:
            for i in range(args.repeat):
                console.print(f"run {i + 1}/{args.repeat}")
                report["runs"].append(one_run(Path(folder), profile, console))
    except Exception:
        console.print("benchmark failed:", style="red")
        console.print(traceback.format_exc(), markup=False, highlight=False)
        status_code = 1
    finally:
        if left := leftovers():
            console.print(f"left behind: {', '.join(left)}", style="red", markup=False)
            status_code = 1
    if not report["runs"]:
        return 1
    ending = observe.wrap_up(report, t0)
    summarise(report)
    render(console, report)
    console.print(ending, highlight=False)
    if not args.no_save:
        console.print(f"results: {observe.save(report, 'emulator', 'emulator-latest.json')}")
    return status_code


if __name__ == "__main__":
    sys.exit(main())
