"""`labctl run` on a faked lab (bring-up, teardown and the nodes' commands faked): Ctrl-C in the middle of a suite
still writes the reports, with what ran until then, and exits 130 once the traffic is stopped and the lab down."""
from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest

from labctl.cli import main
from labctl.scenario import runner
from labctl.scenario.report import read_json
from tests.unit.fake_lab import REPO, FakeContext

STEPS = {
    "a": "  - exec: h1\n    cmd: echo a\n",
    "b": ("  - traffic: start\n    id: probe\n    type: ping\n    from: h1\n    to: h4\n"
          "  - exec: h1\n    cmd: echo b\n  - exec: h1\n    cmd: press ctrl-c\n  - exec: h1\n    cmd: never\n"),
    "c": "  - exec: h1\n    cmd: echo c\n",
}


def sh(argv: list[str]) -> subprocess.CompletedProcess:
    """The nodes' shell: Ctrl-C arrives while it runs `press ctrl-c`."""
    if argv[-1] == "press ctrl-c":
        raise KeyboardInterrupt
    return subprocess.CompletedProcess(argv, 0, argv[-1].removeprefix("echo ") + "\n", "")


@pytest.fixture
def faked(monkeypatch):
    """Labs that come up and go down without a kernel, and the commands they ran."""
    done: dict[str, list] = {"up": [], "down": [], "contexts": []}
    monkeypatch.setattr("labctl.runtime.lab.up", lambda plan, *_: done["up"].append(plan.name))
    monkeypatch.setattr("labctl.runtime.lab.down", lambda name: done["down"].append(name))
    monkeypatch.setattr("labctl.runtime.lab.link_status", lambda lab: [])

    def context(lab, plan):
        done["contexts"].append(FakeContext({"sh": sh}, {"ping": ""}))
        return done["contexts"][-1]
    monkeypatch.setattr(runner, "Context", context)
    return done


def test_ctrl_c_writes_the_reports_of_what_ran(tmp_path, faked, capsys):
    suite = tmp_path / "suite"
    suite.mkdir()
    for name, steps in STEPS.items():
        (suite / f"{name}.yml").write_text(f"name: {name}\ntopology: {REPO / 'topologies' / 'demo.yml'}\n"
                                           f"steps:\n{steps}")
    reports = {kind: tmp_path / f"r.{kind}" for kind in ("junit", "json", "html")}
    assert main(["run", str(suite), "--name", "t-intr"] + [a for k, p in reports.items() for a in (f"--{k}", str(p))]) \
        == 130
    out, err = capsys.readouterr()
    assert "labctl: interrupted" in err and "Traceback" not in out + err
    assert all(f"wrote {path}" in out for path in reports.values())

    a, b = read_json(reports["json"])               # c never ran
    assert (a.name, a.error, [s.status for s in a.steps]) == ("a", None, ["done"])
    assert (b.name, b.error) == ("b", "interrupted by Ctrl-C")
    assert [(s.name, s.status) for s in b.steps] == [("traffic start probe (ping h1 -> h4)", "done"),
                                                      ("exec on h1: echo b", "done")]
    assert [t.id for t in b.traffic] == ["probe"] and b.traffic[0].stopped is not None
    assert [ran[-1] for _, ran in faked["contexts"][1].ran] == ["echo b", "press ctrl-c"]
    assert faked["up"] == faked["down"] == ["t-intr", "t-intr"]     # each lab brought up was taken down
    assert all(ctx.all_stopped() for ctx in faked["contexts"])      # and the ping of b was stopped

    junit = ET.parse(reports["junit"]).getroot()
    assert [suite.get("name") for suite in junit.iter("testsuite")] == ["a", "b"]
    assert "interrupted by Ctrl-C" in reports["html"].read_text()
