"""Plots of the series steps and traffic flows recorded, as PNG data URIs for the HTML report (matplotlib, Agg).

Series keys pick the plot: a key containing "rtt" goes on the RTT plot of its step or flow, one containing
"Mbit/s" on the throughput plot, "outage" ((start, end) pairs) is shaded on the RTT plot (or the first plot
there is), and any other key gets a plot of its own. Fault steps are drawn as vertical lines where they fall.
"""
from __future__ import annotations

import base64
import io
import math
import textwrap
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labctl.scenario.model import ScenarioResult, Series

WIDTH, HEIGHT, DPI = 5.6, 2.4, 160       # inches, and dots per inch: crisp when shown about 560 px wide
LINE_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#bcbd22", "#7f7f7f"]
OUTAGE_COLOUR, FAULT_COLOUR = "#d62728", "#e07b00"


@dataclass
class Plot:
    caption: str          # what and whose: "step 4: reach h1 h4 - RTT"
    data_uri: str         # data:image/png;base64,...


@dataclass
class _Source:
    label: str
    series: dict[str, Series]
    span: tuple[float, float] | None = None     # a flow's start and stop, to widen the time axis


def _kind(key: str) -> str:
    lowered = key.lower()
    if "outage" in lowered:
        return "outage"
    if "rtt" in lowered:
        return "rtt"
    if "mbit/s" in lowered:
        return "throughput"
    return key


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _with_gaps(points: Series) -> tuple[list[float], list[float]]:
    """x and y values, with a break in the line where samples are missing (lost probes, an outage):
    wherever two samples lie more than 3 times the usual interval apart."""
    steps = sorted(b[0] - a[0] for a, b in zip(points, points[1:]))
    usual = steps[len(steps) // 2] if steps else 0.0
    xs: list[float] = []
    ys: list[float] = []
    for n, (x, y) in enumerate(points):
        if n and usual > 0 and x - points[n - 1][0] > 3 * usual:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.append(x)
        ys.append(math.nan if y is None else y)
    return xs, ys


def _draw(source: _Source, keys: list[str], ylabel: str, outages: Series,
          faults: list[tuple[float, str]]) -> str:
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    times: list[float] = [t for window in outages for t in window]
    for colour, key in zip(LINE_COLOURS * 4, keys):
        xs, ys = _with_gaps(sorted(source.series[key], key=lambda point: point[0]))
        times += [x for x in xs if x == x]
        ax.plot(xs, ys, ".-", color=colour, linewidth=1.2, markersize=3.5, label=key)
    if keys:
        ax.set_ylim(bottom=0)
        ax.set_ylabel(ylabel, fontsize=9)
    else:                                       # outages alone: a band, no values
        ax.set_yticks([])
    if source.span:
        times += [t for t in source.span if t is not None]
    for n, (start, end) in enumerate(outages):
        ax.axvspan(start, end, color=OUTAGE_COLOUR, alpha=0.15, linewidth=0, label="outage" if n == 0 else None)
        ax.text((start + end) / 2, 0.03, f"{end - start:.1f} s", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8, color=OUTAGE_COLOUR)
    if times:
        low, high = min(times), max(times)
        shown = [f for f in faults if low <= f[0] <= high]
        for n, (at, name) in enumerate(shown, 1):      # several: numbered on the plot, named in the legend
            label = "fault" if len(shown) == 1 else textwrap.fill(f"{n}: {name}", 30)
            ax.axvline(at, color=FAULT_COLOUR, linestyle="--", linewidth=1.1, label=label)
            ax.text(at, 1.01, f" {name}" if len(shown) == 1 else f" {n}", transform=ax.get_xaxis_transform(),
                    rotation=0, ha="left", va="bottom", fontsize=8, color=FAULT_COLOUR, clip_on=False)
        margin = max((high - low) * 0.02, 0.1)
        ax.set_xlim(low - margin, high + margin)
    ax.set_xlabel("seconds since the scenario started", fontsize=9)
    ax.tick_params(labelsize=8.5)
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(figure)


def _source_plots(source: _Source, faults: list[tuple[float, str]]) -> list[Plot]:
    groups: dict[str, list[str]] = {}
    for key, points in source.series.items():
        if points:
            groups.setdefault(_kind(key), []).append(key)
    outages = [tuple(window) for key in groups.pop("outage", []) for window in source.series[key]]
    titles = {"rtt": "RTT", "throughput": "throughput"}
    order = [k for k in ("rtt", "throughput") if k in groups] + [k for k in groups if k not in titles]
    plots = []
    for n, kind in enumerate(order):
        keys = groups[kind]
        shade = outages if n == 0 else []       # on the RTT plot when there is one, else on the first
        ylabel = keys[0] if len(keys) == 1 else kind
        plots.append(Plot(f"{source.label} - {titles.get(kind, kind)}", _draw(source, keys, ylabel, shade, faults)))
    if outages and not order:
        plots.append(Plot(f"{source.label} - outages", _draw(source, [], "", outages, faults)))
    return plots


def scenario_plots(result: ScenarioResult) -> list[Plot]:
    """Every plot of a scenario: the steps' series in step order, then the traffic flows'."""
    faults = [(s.started, s.name) for s in result.steps if s.kind == "fault"]
    sources = [_Source(f"step {s.index}: {s.name}", s.series) for s in result.steps if s.series]
    sources += [_Source(f"traffic {t.id} ({t.kind} {t.src} \u2192 {t.dst})", t.series, (t.started, t.stopped))
                for t in result.traffic if t.series]
    return [plot for source in sources for plot in _source_plots(source, faults)]
