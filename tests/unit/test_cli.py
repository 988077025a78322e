"""The CLI's error handling and the commands that need no root."""
from __future__ import annotations

import json
from pathlib import Path

from labctl.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_bad_file_exit_2_with_location(tmp_path, capsys):
    bad = tmp_path / "t.yml"
    bad.write_text("name: t\nnodes:\n  h1: {kind: host, colour: red}\n")
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{bad}:3: nodes.h1.colour: unknown key 'colour'; valid keys: asn, router_id, ospf, announce, rov, bgp, kind, loopback, subnet, ipv6_subnet, routes, auto_routes, services")


def test_missing_file(capsys):
    assert main(["validate", "/nonexistent.yml"]) == 2
    assert "/nonexistent.yml: cannot read" in capsys.readouterr().err


def test_validate_prints_plan(capsys):
    assert main(["validate", str(REPO / "topologies" / "demo.yml"), "--plan"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["nodes"]["h1"]["routes"][0]["via"] == plan["nodes"]["r1"]["interfaces"][0]["ipv4"].split("/")[0]


def test_graph_of_a_file(tmp_path):
    out = tmp_path / "demo.dot"
    assert main(["graph", str(REPO / "topologies" / "demo.yml"), "-o", str(out)]) == 0
    assert out.read_text().count(" -- ") == 7


def test_unknown_argument_is_a_usage_error(capsys):
    try:
        main(["status", "--bogus"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_validate_a_scenario(capsys):
    assert main(["validate", str(REPO / "scenarios" / "failover" / "static-failover.yml")]) == 0
    assert "valid scenario: 11 steps" in capsys.readouterr().out
    assert main(["validate", str(REPO / "tests" / "scenario_errors" / "unknown_node.yml")]) == 2
    assert "steps.0.from: unknown node 'h9'" in capsys.readouterr().err
