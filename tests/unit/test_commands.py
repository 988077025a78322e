"""Commands on nodes that time out are killed with everything they started, without root: the node's
`ip netns exec` prefix is left out, so the command runs right here."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from labctl.runtime import commands
from labctl.scenario.context import Context
from tests.unit.fake_lab import PLAN


def running(pid: int) -> bool:
    """Whether the process exists and is no zombie (one whose parent has not reaped it yet is dead too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture(autouse=True)
def on_this_host(monkeypatch):
    monkeypatch.setattr(commands, "node_argv", lambda lab, node, argv, plan=None: argv)


def test_a_command_that_times_out_is_killed_with_its_process_group(tmp_path):
    pids = tmp_path / "pids"
    began = time.monotonic()
    done = Context("demo", PLAN).run("h1", ["sh", "-c", f"sleep 60 & echo $! > {pids}; sleep 60 & echo $! >> {pids}; "
                                                        "echo started; wait"], timeout=0.5)
    assert time.monotonic() - began < 10          # not waiting for the sleeps, which hold its output open
    assert (done.returncode, done.stdout, done.stderr) == (124, "started\n", "timed out after 0.5 s")
    sleeps = [int(pid) for pid in pids.read_text().split()]
    assert len(sleeps) == 2
    deadline = time.monotonic() + 5               # SIGKILL is delivered at once; the kernel may take a moment
    while any(map(running, sleeps)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(running, sleeps))


def test_run_in_raises_timeout_expired_as_subprocess_run_does():
    with pytest.raises(subprocess.TimeoutExpired):
        commands.run_in("demo", "h1", ["sleep", "60"], timeout=0.2, plan=PLAN)
    done = commands.run_in("demo", "h1", ["sh", "-c", "echo out; echo err >&2; exit 3"], plan=PLAN)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
