"""Scenario error cases, like tests/errors/ for topologies: tests/scenario_errors/<case>.yml must fail to load with
exactly the messages in <case>.err. Topology paths inside them are relative to the case file."""
from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import InputError
from labctl.scenario.assertions import ASSERTIONS
from labctl.scenario.faults import FAULTS
from labctl.scenario.flows import FLOWS
from labctl.scenario.load import load_scenario
from labctl.scenario.steps import STEP_KINDS

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "scenario_errors"
CASES = sorted({p.stem for p in CASES_DIR.glob("*.yml")} | {p.stem for p in CASES_DIR.glob("*.err")})


@pytest.fixture
def builtin_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only labctl's own step kinds, assertions, faults and flow types: other tests register fakes
    (fake_timeline), which would show up in the lists of valid names the messages give."""
    for registry in (STEP_KINDS, ASSERTIONS, FAULTS, FLOWS):
        for name, cls in list(registry.items()):
            if not cls.__module__.startswith("labctl."):
                monkeypatch.delitem(registry, name)


@pytest.mark.parametrize("case", CASES)
def test_scenario_error_case(case: str, monkeypatch: pytest.MonkeyPatch, builtin_registry: None) -> None:
    monkeypatch.chdir(REPO)             # messages name the file as given: tests/scenario_errors/<case>.yml
    with pytest.raises(InputError) as caught:       # any other exception propagates and fails the test
        load_scenario(f"tests/scenario_errors/{case}.yml")
    assert caught.value.messages == (CASES_DIR / f"{case}.err").read_text().splitlines()
