"""Scenario results in the terminal: live progress, the summary table, failures with evidence, scores."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from labctl.scenario.model import ScenarioResult, StepResult
from labctl.scenario.runner import Listener

_MARK = {"passed": "[green]PASS [/]", "failed": "[red]FAIL [/]", "error": "[red]ERROR[/]", "done": "[dim]done [/]"}
EVIDENCE_LINES = 25


@contextmanager
def progress(console: Console, scenario: str) -> Iterator[Listener]:
    """A listener that shows the running step with its elapsed time (on a terminal) and prints each finished one."""
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                   transient=True) if console.is_terminal else None
    running: list[TaskID] = []

    def listener(event: str, step: StepResult) -> None:
        if event == "start" and bar:
            running.append(bar.add_task(f"[bold]{scenario}[/] step {step.index}: {step.name}", total=None))
        elif event == "end":
            if bar and running:
                bar.remove_task(running.pop())
            detail = f" [dim]- {step.observed}[/]" if step.status != "passed" and step.observed else ""
            console.print(f"  {_MARK[step.status]} {step.started:6.1f}s  {step.name} "
                          f"[dim]({step.duration:.1f}s)[/]{detail}", highlight=False)
    console.print(f"[bold]{scenario}[/]")
    if bar:
        bar.start()
    try:
        yield listener
    finally:
        if bar:
            bar.stop()


def failures(console: Console, result: ScenarioResult) -> None:
    """Expected vs observed, the raw evidence and any hint, for each check that did not pass."""
    for step in result.steps:
        if step.status not in ("failed", "error"):
            continue
        console.print(f"\n[red bold]{result.name}: {step.name}[/] ({step.status})", highlight=False)
        if step.expected:
            console.print(f"  expected: {step.expected}", highlight=False, markup=False)
        console.print(f"  observed: {step.observed}", highlight=False, markup=False)
        if step.hint:
            console.print(f"  [yellow]hint:[/] {step.hint}", highlight=False)
        _evidence(console, step.evidence)
    for event in result.events:
        console.print(f"\n[red bold]{result.name}: at {event.time:.1f} s, {event.what}[/]", highlight=False)
        _evidence(console, event.evidence)
    if result.error:
        console.print(f"\n[red]{result.name}: {result.error}[/]", highlight=False)


def _evidence(console: Console, text: str) -> None:
    if text:
        lines = text.rstrip().splitlines()
        shown = lines[:EVIDENCE_LINES] + ([f"... ({len(lines) - EVIDENCE_LINES} more lines)"]
                                          if len(lines) > EVIDENCE_LINES else [])
        console.print("\n".join("    | " + line for line in shown), highlight=False, markup=False)


def summary(console: Console, results: list[ScenarioResult]) -> None:
    table = Table(title="scenarios", title_justify="left")
    for column in ("scenario", "lab", "checks passed", "failed", "time", "result"):
        table.add_column(column)
    for r in results:
        failed = sum(1 for s in r.checks if s.status != "passed")
        table.add_row(r.name, r.lab, f"{len(r.checks) - failed}/{len(r.checks)}", str(failed), f"{r.duration:.1f}s",
                      "[green]passed[/]" if r.passed else "[red]FAILED[/]")
    console.print(table)


def score(console: Console, result: ScenarioResult) -> None:
    """The grading view of an exercise: each check's points, and a hint where it failed."""
    table = Table(title=f"{result.name} on lab {result.lab}", title_justify="left")
    for column in ("check", "points", "result", "hint"):
        table.add_column(column)
    for step in result.checks:
        table.add_row(step.name, f"{step.earned:g}/{step.points or 0:g}", _MARK[step.status],
                      "" if step.status == "passed" else step.hint or step.observed)
    console.print(table)
    got, total = result.score
    console.print(f"[bold]score: {got:g}/{total:g}[/]")


def score_json(result: ScenarioResult) -> dict:
    got, total = result.score
    return {"exercise": result.name, "lab": result.lab, "score": got, "max": total, "passed": result.passed,
            "checks": [{"name": s.name, "status": s.status, "points": s.points or 0,
                        "earned": s.earned, "hint": s.hint,
                        "expected": s.expected, "observed": s.observed} for s in result.checks]}
