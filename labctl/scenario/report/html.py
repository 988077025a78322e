"""Scenario results as one self-contained HTML page: no external assets, plots inlined as PNG data URIs and the
topology as inline SVG. Rendered from templates/report.html.j2 with autoescaping: only the SVG is inserted as
markup, and it is stripped of scripts first."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from labctl.scenario.model import ScenarioResult
from labctl.scenario.report.summary import CheckCounts, check_counts, error_count, is_graded, strip_ansi

if TYPE_CHECKING:
    from labctl.scenario.report.plots import Plot

_SCRIPT = re.compile(r"<script\b.*?</script\s*>|<script\b[^>]*/>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ON_ATTRIBUTE = re.compile(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)


def inline_svg(svg: str) -> Markup:
    """The <svg> element of an SVG document (no XML declaration or doctype), without scripts or event handlers."""
    start, end = svg.find("<svg"), svg.rfind("</svg>")
    if start < 0 or end < start:
        return Markup("")
    element = svg[start:end + len("</svg>")]
    return Markup(_ON_ATTRIBUTE.sub("", _SCRIPT.sub("", element)))


def plain(text: str) -> str:
    """Program output fit to show: no terminal sequences, other control characters as \\xNN, no trailing space."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", strip_ansi(text)).rstrip()


def lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


@dataclass
class _ScenarioView:
    result: ScenarioResult
    anchor: str
    counts: CheckCounts
    errors: int
    graded: bool
    score: tuple[float, float]
    started: str
    svg: Markup
    plots: list["Plot"]


def _started(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if epoch else ""


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("labctl.scenario.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = lambda value: f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"
    env.filters["number"] = lambda value: f"{value:g}"
    env.filters["plain"] = plain
    env.filters["svg"] = inline_svg
    env.filters["lines"] = lambda text: lines(len(text.splitlines()))
    return env


def render_html(results: list[ScenarioResult]) -> str:
    from labctl.scenario.report.plots import scenario_plots  # matplotlib is slow to import: only here

    views = [_ScenarioView(r, f"scenario-{n}", check_counts(r), error_count(r), is_graded(r), r.score,
                           _started(r.started_at), inline_svg(r.topology_svg), scenario_plots(r))
             for n, r in enumerate(results, 1)]
    passed = sum(1 for r in results if r.passed)
    return _environment().get_template("report.html.j2").render(
        scenarios=views, passed=passed, failed=len(results) - passed,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"))


def write_html(results: list[ScenarioResult], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(render_html(results), encoding="utf-8")
    return path
