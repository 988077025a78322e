"""Options shared by all tests."""
from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite the golden files (tests/golden/*.plan.json) instead of comparing; review the diff")
