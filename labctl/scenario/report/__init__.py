"""Reports of scenario results, one module per format: JUnit XML for CI, JSON for programs, HTML for people.
Each writer takes the list of ScenarioResults a run produced and a path, and returns the path it wrote."""
from labctl.scenario.report.html import render_html, write_html
from labctl.scenario.report.json import read_json, results_dict, write_json
from labctl.scenario.report.junit import build_junit, write_junit

__all__ = ["build_junit", "read_json", "render_html", "results_dict", "write_html", "write_json", "write_junit"]
