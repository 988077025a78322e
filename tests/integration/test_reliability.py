"""What labctl promises to leave alone, to leave behind (nothing), and to keep: names taken by others, crashes and
damaged state, IPv6 and routes across link and node faults, a recorded state that every process sees."""
from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from labctl.errors import LabError
from labctl.paths import STATE_DIR
from labctl.runtime import lab
from labctl.topology.shaping import LinkShaping
from tests.integration.conftest import LABCTL, REPO, labctl

DEMO = str(REPO / "topologies" / "demo.yml")
DUALSTACK = str(REPO / "tests" / "integration" / "topologies" / "dualstack.yml")


def test_a_name_taken_by_someone_else_is_refused_and_left_alone():
    subprocess.run(["ip", "netns", "add", "t-clash.h2"], check=True)
    theirs = subprocess.Popen(["ip", "netns", "exec", "t-clash.h2", "sleep", "1000"])
    try:
        run = labctl("up", DEMO, "--name", "t-clash")
        assert run.returncode == 2 and "t-clash.h2" in run.stderr and "labctl leaves them alone" in run.stderr
        assert theirs.poll() is None and os.path.ismount("/run/netns/t-clash.h2")
        assert not (STATE_DIR / "t-clash").exists()
    finally:
        theirs.kill()
        theirs.wait()
        subprocess.run(["ip", "netns", "del", "t-clash.h2"], check=True)


def labs_up() -> list[str]:
    return list(json.loads(labctl("status", "--json", check=True).stdout))


@pytest.fixture
def clean_is_ours():
    """`labctl clean` removes every lab on record: only run it when no one else's lab is up."""
    if labs_up():
        pytest.skip(f"labs {labs_up()} are up: `labctl clean` would remove them")


def _big_topology(path: Path, hosts: int) -> Path:
    lines = ["name: t-big", "nodes:", "  s1: switch"] + [f"  h{i}: {{services: [web]}}" if i < 3 else f"  h{i}: host"
                                                         for i in range(hosts)]
    lines += ["links:"] + [f"  - [h{i}, s1]" for i in range(hosts)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("when", ["namespaces", "later"])
def test_clean_after_a_crash_at_any_moment(tmp_path, when, clean_is_ours):
    """`labctl up` killed with SIGKILL at random moments of its bring-up (services included): `labctl clean`
    removes everything it had made; the leak check after the test finds nothing."""
    topology = _big_topology(tmp_path / "big.yml", 200)
    for attempt in range(4):
        proc = subprocess.Popen(LABCTL + ["up", str(topology), "-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not any(n.startswith("t-big.") for n in os.listdir("/run/netns")) and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(random.uniform(0, 0.05) if when == "namespaces" else random.uniform(0.1, 0.6))
        proc.kill()
        proc.wait()
        assert "t-big" in labctl("clean", check=True).stdout


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_clean_when_the_state_is_damaged(damage, clean_is_ours):
    labctl("up", DEMO, "--name", "t-damaged", "-q", check=True)
    for name in ("state.json", "plan.json"):
        path = STATE_DIR / "t-damaged" / name
        path.write_bytes(path.read_bytes()[:50] if damage == "truncated" else b"\x00\xff")
    status = labctl("status", "t-damaged")
    assert status.returncode == 2 and "unreadable" in status.stderr and "labctl clean" in status.stderr
    assert "t-damaged" in labctl("clean", check=True).stdout


def _ping(name: str, node: str, target: str, family: str = "-4") -> bool:
    return labctl("exec", name, node, "--", "ping", family, "-c1", "-W2", target).returncode == 0


def _addresses(name: str, node: str) -> set[str]:
    shown = json.loads(labctl("exec", name, node, "--", "ip", "-j", "addr", check=True).stdout)
    return {f"{a['local']}/{a['prefixlen']}" for i in shown for a in i["addr_info"] if a["scope"] == "global"}


def test_dual_stack_keeps_ipv6_across_link_and_node_faults():
    labctl("up", DUALSTACK, "--name", "t-ds", "-q", check=True)
    try:
        before = {n: _addresses("t-ds", n) for n in ("r1", "r2")}
        assert any(":" in a for a in before["r1"])
        lab.set_link("t-ds", "r1", "r2", up=False)
        assert not _ping("t-ds", "h1", "h2", "-6")
        lab.set_link("t-ds", "r1", "r2", up=True)
        assert {n: _addresses("t-ds", n) for n in ("r1", "r2")} == before
        assert _ping("t-ds", "h1", "h2", "-6") and _ping("t-ds", "h1", "h2", "-4")
        lab.stop_node("t-ds", "r2")
        lab.start_node("t-ds", "r2")
        assert _addresses("t-ds", "r2") == before["r2"] and _ping("t-ds", "h1", "h2", "-6")
        cli = labctl("cli", "t-ds", input="link r1 r2 down\nlink r1 r2 up\nexit\n", check=True)
        assert "error" not in cli.stderr.lower()
        assert _addresses("t-ds", "r1") == before["r1"] and _ping("t-ds", "h1", "h2", "-6")
    finally:
        labctl("down", "t-ds", check=True)


def test_link_up_keeps_routes_a_user_added_and_the_state_follows_every_change(tmp_path):
    labctl("up", DEMO, "--name", "t-state", "-q", check=True)
    try:
        labctl("exec", "t-state", "r1", "--", "ip", "route", "add", "192.0.2.0/24", "via", "10.255.0.1", check=True)
        lab.set_link("t-state", "r1", "r2", up=False)
        lab.impair("t-state", "h1", "s1", LinkShaping(rate="5mbit"))
        lab.stop_node("t-state", "h4")
        # a second labctl process sees what happened
        status = json.loads(labctl("status", "t-state", "--json", check=True).stdout)["t-state"]
        links = {(l["a"].split(":")[0], l["b"].split(":")[0]): l for l in status["links"]}
        assert links[("r1", "r2")]["down"] and links[("h1", "s1")]["shaping"] == "5 Mbit/s"
        assert links[("h4", "s2")]["down"]
        assert [n["stopped"] for n in status["nodes"] if n["name"] == "h4"] == [True]
        assert {(s["node"], s["state"]) for s in status["services"]} == {("h3", "running"), ("h4", "stopped")}
        dot = tmp_path / "lab.dot"
        labctl("graph", "t-state", "-o", str(dot), check=True)
        assert "5 Mbit/s" in dot.read_text() and dot.read_text().count("dashed") == 2
        lab.set_link("t-state", "r1", "r2", up=True)
        routes = labctl("exec", "t-state", "r1", "--", "ip", "route", check=True).stdout
        assert "192.0.2.0/24 via 10.255.0.1" in routes and "10.0.1.0/24 via 10.255.0.1" in routes
        lab.start_node("t-state", "h4")
        assert _ping("t-state", "h1", "h4")
    finally:
        labctl("down", "t-state", check=True)


def test_kernel_refusals_are_messages(tmp_path):
    labctl("up", DEMO, "--name", "t-refuse", "-q", check=True)
    try:
        subprocess.run(["ip", "-n", "t-refuse.r1", "link", "del", "eth1"], check=True)   # the WAN link, by hand
        with pytest.raises(LabError, match=r"t-refuse\.r\d: .*failed: No such device"):
            lab.set_link("t-refuse", "r1", "r2", up=False)
        scenario = tmp_path / "s.yml"
        scenario.write_text("name: s\nsteps:\n  - fault: link_up\n    link: [r1, r2]\n")
        run = labctl("run", str(scenario), "--lab", "t-refuse")
        assert run.returncode == 1 and "No such device" in run.stdout and "Traceback" not in run.stdout + run.stderr
    finally:
        labctl("down", "t-refuse", check=True)


def test_down_from_inside_the_lab_is_refused():
    labctl("up", DEMO, "--name", "t-inside", "-q", check=True)
    try:
        shell = labctl("shell", "t-inside", "h1", input="labctl down t-inside; echo exit=$?\n")
        assert "exit=2" in shell.stdout and "runs inside lab 't-inside' (on h1)" in shell.stdout + shell.stderr
        assert "t-inside" in labs_up()
    finally:
        labctl("down", "t-inside", check=True)


def test_a_link_between_two_stopped_nodes_stays_down_until_both_start():
    labctl("up", DEMO, "--name", "t-two", "-q", check=True)
    try:
        lab.stop_node("t-two", "r1")
        lab.stop_node("t-two", "r2")
        lab.start_node("t-two", "r1")
        links = {(l["a"].split(":")[0], l["b"].split(":")[0]): l["down"]
                 for l in json.loads(labctl("status", "t-two", "--json", check=True).stdout)["t-two"]["links"]}
        assert links[("r1", "r2")] and not links[("r1", "s1")]
        assert _ping("t-two", "h1", "r1") and not _ping("t-two", "h1", "h4")
        lab.start_node("t-two", "r2")
        assert _ping("t-two", "h1", "h4")
    finally:
        labctl("down", "t-two", check=True)
