"""The unit tests' fake machine: state, /etc/netns and the cgroup2 mount in a temporary folder, the kernel probe
answered with CAPS (netem missing, tbf present), every program found."""
from __future__ import annotations

from pathlib import Path

import pytest

from labctl import paths
from labctl.kernel import cgroups
from labctl.kernel.probe import Capabilities
from labctl.runtime import build

CAPS = Capabilities(qdiscs={"netem": False, "tbf": True}, nft_egress=True, cgroup2="/fake")


@pytest.fixture
def machine(tmp_path, monkeypatch) -> Path:
    """State, /etc/netns and the cgroup2 mount in a temporary folder; the kernel probe answered."""
    for name in ("STATE_DIR", "ETC_NETNS"):
        monkeypatch.setattr(paths, name, tmp_path / name.lower())
    monkeypatch.setattr(cgroups, "mount", lambda: tmp_path / "cgroup")
    monkeypatch.setattr(build, "probe", lambda: CAPS)
    monkeypatch.setattr(build.shutil, "which", lambda program: f"/usr/bin/{program}")
    return tmp_path
