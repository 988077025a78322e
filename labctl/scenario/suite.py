"""Suites: the scenario files named on the command line (directories expanded), all loaded and checked before
any runs, then run one after the other."""
from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

from labctl.errors import InputError, LabError
from labctl.runtime.state import load
from labctl.scenario.load import LoadedScenario, load_scenario
from labctl.scenario.model import ScenarioResult
from labctl.scenario.runner import Interrupted, Listener, run_scenario
from labctl.topology.loader import load_yaml


def scenario_files(paths: list[str]) -> list[Path]:
    """Files as given; a directory contributes its *.yml files that have `steps:` (a suite)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            candidates = sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
            files += [f for f in candidates if "steps" in load_yaml(f).data]
        else:
            files.append(path)
    if not files:
        raise InputError([f"{', '.join(paths)}: no scenario files (YAML files with steps:)"])
    return files


def load_all(paths: list[str], lab: str | None) -> list[LoadedScenario]:
    """Every scenario, checked against the running `lab` (or each one's own topology); all problems at once."""
    plan = load(lab)[1] if lab else None
    loaded, problems = [], []
    for path in scenario_files(paths):
        try:
            loaded.append(load_scenario(path, plan))
        except InputError as exc:
            problems += exc.messages
            continue
        if not lab and loaded[-1].plan is None:      # found now, not after the scenarios before it have run
            problems.append(loaded[-1].source.error((), "the scenario names no topology: add `topology:` or run it "
                                                        "against a running lab with --lab"))
    if problems:
        raise InputError(problems)
    return loaded


def run_all(loaded: list[LoadedScenario], lab: str | None, keep: bool, name: str | None,
            progress: Callable[[str], AbstractContextManager[Listener]]) -> tuple[list[ScenarioResult], bool]:
    """Run each scenario; one whose lab cannot be built is recorded as such and the suite goes on.
    Returns the results and whether every lab could be built. Ctrl-C raises Interrupted with every result so far."""
    results, built = [], True
    for scenario in loaded:
        with progress(scenario.scenario.name) as listener:
            try:
                results.append(run_scenario(scenario, lab, keep, listener, name))
            except LabError as exc:
                built = False
                results.append(ScenarioResult(scenario.scenario.name, scenario.path, name or lab or "-",
                                              scenario.scenario.description, error=f"the lab could not be built: {exc}"))
            except Interrupted as exc:
                raise Interrupted(results + exc.results) from None
    return results, built
