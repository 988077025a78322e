"""Every code block of README.md works as written, run in order as a reader would (as root). How a block is
run follows its fence:

- ```sh: each line runs and exits 0 (or N, where its comment says "(exit N)"); a ping must be answered;
- ```sh setup: the `make` targets exist (`make -n TARGET`: the test suite cannot run itself);
- ```sh interactive: each command gets the `mininet>` lines after it as its input; one whose comment says
  Ctrl-C is interrupted after a moment, as the reader would;
- ```python: runs with the venv's python;
- ```yaml scenario: `labctl validate` accepts it, beside the bundled topologies it names;
- ```text layout: every file and folder it names exists.
Any other block fails the test: each one must be tested."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, labctl

README_LABS = ("demo", "tree", "alice", "dumbbell", "mini-internet")
_FENCE = re.compile(r"^```(\w+)[ ]?([\w ]*)\n(.*?)^```$", re.M | re.S)
ENV = os.environ | {"PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}


def blocks() -> list[tuple[str, str]]:
    """(kind, text) of each code block, kind being the fence's words: 'sh', 'sh interactive', 'python', ..."""
    return [(f"{lang} {tag}".strip(), body) for lang, tag, body in _FENCE.findall((REPO / "README.md").read_text())]


def commands(text: str) -> list[tuple[str, str]]:
    """(command, its comment) for each line that is not blank or a comment."""
    found = []
    for line in text.splitlines():
        command, *comment = re.split(r"\s+#\s", line, maxsplit=1)
        if command.strip() and not command.strip().startswith("#"):
            found.append((command.strip(), "".join(comment)))
    return found


def labs_up() -> list[str]:
    return list(json.loads(labctl("status", "--json", check=True).stdout))


def run(command: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "set -o pipefail; " + command], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=180, **kwargs)


def run_sh(text: str, cwd: Path) -> None:
    for command, comment in commands(text):
        if command == "labctl clean" and set(labs_up()) - set(README_LABS):
            continue        # it would remove labs that are not this test's
        expected = int(m.group(1)) if (m := re.search(r"\(exit (\d+)\)", comment)) else 0
        done = run(command, cwd, stdin=subprocess.DEVNULL)
        assert done.returncode == expected, f"{command}\n-> exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        if re.search(r"\bping\b", command):
            assert "1 received" in done.stdout, f"{command}\n{done.stdout}\n{done.stderr}"


def run_setup(text: str, cwd: Path) -> None:
    for command, _ in commands(text):
        assert command.startswith("make "), command
        done = subprocess.run(["make", "-n", command.split()[1]], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def run_interactive(text: str, cwd: Path) -> None:
    lines = commands(text)
    for i, (command, comment) in enumerate(lines):
        if command.startswith("mininet>"):
            continue
        prompts = []
        for following, _ in lines[i + 1:]:
            if not following.startswith("mininet>"):
                break
            prompts.append(following.removeprefix("mininet>").strip() + "\n")
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=ENV, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        if "Ctrl-C" in comment:
            try:
                proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            assert proc.returncode in (0, 130), f"{command}\n-> exit {proc.returncode}\n{out}\n{err}"
        else:
            out, err = proc.communicate("".join(prompts), timeout=120)
            assert proc.returncode == 0, f"{command}\n-> exit {proc.returncode}\n{out}\n{err}"
            if prompts:
                assert "0% dropped" in out + err, out + err


def run_python(text: str, cwd: Path) -> None:
    (cwd / "example.py").write_text(text)
    done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "example.py"], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "1 received" in done.stdout, done.stdout + done.stderr


def run_scenario(text: str, cwd: Path) -> None:
    for topology in [*REPO.glob("topologies/*.yml"), *REPO.glob("scenarios/*/*.yml")]:
        if not (cwd / topology.name).exists():
            (cwd / topology.name).symlink_to(topology)
    (cwd / "readme-scenario.yml").write_text(text)
    done = labctl("validate", str(cwd / "readme-scenario.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def check_layout(text: str, cwd: Path) -> None:
    names = {p.name for p in REPO.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}
    mentioned = set(re.findall(r"(?<![\w./-])([\w-]+(?:\.(?:py|yml|md))|[\w-]+/)(?![\w])", text))
    missing = sorted(m for m in mentioned if m.rstrip("/") not in names)
    assert not missing, f"the layout names what does not exist: {missing}"


RUNNERS = {"sh": run_sh, "sh setup": run_setup, "sh interactive": run_interactive, "python": run_python,
           "yaml scenario": run_scenario, "text layout": check_layout}


def test_every_block_of_the_readme(tmp_path: Path) -> None:
    found = blocks()
    untested = [kind for kind, _ in found if kind not in RUNNERS]
    assert not untested, f"README.md has code blocks no test runs: {untested} (known: {', '.join(RUNNERS)})"
    if clash := set(labs_up()) & set(README_LABS):
        pytest.fail(f"labs {sorted(clash)} are up: the README would clash with them")
    # run where outputs (demo.svg) may be written, with the repo's topologies/ and scenarios/ at hand
    for folder in ("topologies", "scenarios"):
        (tmp_path / folder).symlink_to(REPO / folder)
    try:
        for kind, text in found:
            RUNNERS[kind](text, tmp_path)
        assert not set(labs_up()) & set(README_LABS), "the README should end with its labs down"
    finally:
        for name in set(labs_up()) & set(README_LABS):
            labctl("down", name, check=True)
