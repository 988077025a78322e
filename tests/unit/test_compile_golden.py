"""Golden plans, netlab style: tests/golden/<case>.yml compiles to exactly <case>.plan.json.

After a deliberate change, rewrite them with `pytest tests/unit --regen-golden` and review the diff.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.topology import Plan, compile_plan, load_topology

REPO = Path(__file__).resolve().parents[2]
CASES = sorted(p.stem for p in (REPO / "tests" / "golden").glob("*.yml"))


@pytest.mark.parametrize("case", CASES)
def test_golden_plan(case: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.chdir(REPO)             # the plan records its source as given: tests/golden/<case>.yml
    plan = compile_plan(*load_topology(f"tests/golden/{case}.yml"))
    data = plan.model_dump(mode="json")
    golden = Path(f"tests/golden/{case}.plan.json")
    if request.config.getoption("--regen-golden"):
        golden.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    assert data == json.loads(golden.read_text())
    assert Plan.model_validate(data) == plan        # the plan survives its JSON form unchanged (as state on disk)
