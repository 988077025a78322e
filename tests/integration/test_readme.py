"""The README's 5-minute tour (its one ```sh block) works as written: each line runs as root and exits 0."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, labctl

TOUR_LAB = "demo"       # the lab the tour brings up and takes down


def tour_lines() -> list[str]:
    """The commands of README.md's only ```sh block, without blank lines and comments."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", (REPO / "README.md").read_text(), re.M | re.S)
    assert len(blocks) == 1, f"README.md should have exactly one ```sh block (the tour), found {len(blocks)}"
    lines = [line.strip() for line in blocks[0].splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def lab_is_up(name: str) -> bool:
    done = labctl("status", name, "--json")
    if done.returncode != 0 and f"no lab named '{name}'" not in done.stderr:
        raise AssertionError(f"labctl status {name} --json -> {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.returncode == 0


def test_readme_tour(tmp_path: Path) -> None:
    lines = tour_lines()
    if lab_is_up(TOUR_LAB):
        pytest.fail(f"a lab named '{TOUR_LAB}' is already up: the tour would clash with it (labctl down {TOUR_LAB})")
    # run where outputs (demo.svg) may be written, with the repo's topologies/ at hand and its labctl first on PATH
    (tmp_path / "topologies").symlink_to(REPO / "topologies")
    env = os.environ | {"PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
    try:
        for line in lines:
            done = subprocess.run(["bash", "-c", "set -o pipefail; " + line], cwd=tmp_path, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{line}\n-> exit {done.returncode}\n{done.stdout}\n{done.stderr}"
            if re.search(r"\bping\b", line):
                assert "1 received" in done.stdout, f"{line}\n{done.stdout}\n{done.stderr}"
        assert not lab_is_up(TOUR_LAB), f"the tour should end with the lab down (labctl down {TOUR_LAB})"
    finally:
        if lab_is_up(TOUR_LAB):
            labctl("down", TOUR_LAB, check=True)
