"""Error cases, netlab style: tests/errors/<case>.yml must fail with exactly the messages in <case>.err."""
from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import InputError
from labctl.topology import compile_plan, load_topology

REPO = Path(__file__).resolve().parents[2]
CASES = sorted({p.stem for p in (REPO / "tests" / "errors").glob("*.yml")} |
               {p.stem for p in (REPO / "tests" / "errors").glob("*.err")})    # an orphan of either kind fails


@pytest.mark.parametrize("case", CASES)
def test_error_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)             # messages name the file as given: tests/errors/<case>.yml
    path = f"tests/errors/{case}.yml"
    with pytest.raises(InputError) as caught:       # any other exception propagates and fails the test
        compile_plan(*load_topology(path))
    assert caught.value.messages == Path(f"tests/errors/{case}.err").read_text().splitlines()
