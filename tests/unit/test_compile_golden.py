"""Golden plans, netlab style: tests/golden/<case>.yml compiles to exactly <case>.plan.json, and every file the plan
generates (/etc/hosts, daemon configs) to exactly the file of the same path under <case>.files/<node>/ (the lab-wide
files under <case>.files/all/), so configs are reviewed as text, not as JSON strings.

After a deliberate change, rewrite them with `pytest tests/unit --regen-golden` and review the diff.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labctl.plan import Plan
from labctl.topology import compile_plan, load_topology

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yml"))


def split_files(data: dict) -> dict[str, str]:
    """Take the generated files' contents out of the plan's JSON form: {golden path: content}; each content is
    replaced by a pointer to its golden file."""
    found = {}
    owners = [("all", data["files"])] + [(name, f) for name, node in data["nodes"].items()
                                         for s in node["services"] for f in [s["files"]]]
    for owner, files in owners:
        for file in files:
            relative = f"{owner}/{file['path'].lstrip('/')}"
            found[relative], file["content"] = file["content"], f"<golden file {relative}>"
    return found


@pytest.mark.parametrize("case", CASES)
def test_golden_plan(case: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.chdir(REPO)             # the plan records its source as given: tests/golden/<case>.yml
    plan = compile_plan(*load_topology(f"tests/golden/{case}.yml"))
    data = plan.model_dump(mode="json")
    files = split_files(data)
    golden, folder = GOLDEN / f"{case}.plan.json", GOLDEN / f"{case}.files"
    if request.config.getoption("--regen-golden"):
        golden.write_text(json.dumps(data, indent=1) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        for relative, content in files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(content)
    assert data == json.loads(golden.read_text())
    on_disk = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert files == on_disk
    assert Plan.model_validate(plan.model_dump(mode="json")) == plan    # the plan survives its JSON form (state)
