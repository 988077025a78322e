"""Drawing a plan with Graphviz: nodes by kind, links labelled with interfaces and addresses."""
from __future__ import annotations

from pathlib import Path

import graphviz

from labctl.errors import InputError
from labctl.plan import Plan

_STYLE = {
    "host": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8f1fb"},
    "router": {"shape": "ellipse", "style": "filled", "fillcolor": "#fde9c9"},
    "switch": {"shape": "box", "style": "filled", "fillcolor": "#e6e6e6"},
}


def _end_label(plan: Plan, end: str) -> str:
    node, ifname = end.split(":")
    intf = plan.node(node).interface(ifname)
    return "\n".join([ifname] + [a for a in (intf.ipv4, intf.ipv6) if a])


def draw(plan: Plan, down: set[int] = frozenset()) -> graphviz.Graph:
    """The plan's nodes and links; links in `down` (indexes) dashed red."""
    graph = graphviz.Graph(plan.name, graph_attr={"label": plan.name, "labelloc": "t", "fontname": "Helvetica",
                                                   "overlap": "false", "splines": "true"},
                           node_attr={"fontname": "Helvetica"}, edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    for node in plan.nodes.values():
        label = "\n".join([node.name] + [a for a in node.loopback])
        graph.node(node.name, label, **_STYLE[node.kind])
    for i, link in enumerate(plan.links):
        label = link.describe() if link.is_shaped() else ""
        style = {"style": "dashed", "color": "red", "fontcolor": "red"} if i in down else {}
        graph.edge(link.a.split(":")[0], link.b.split(":")[0], label=label + (" (down)" if i in down else ""),
                   taillabel=_end_label(plan, link.a), headlabel=_end_label(plan, link.b), **style)
    return graph


def render(plan: Plan, down: set[int], output: str | Path) -> Path:
    """Write the picture; the format follows the file's suffix (svg, png, pdf, dot)."""
    output = Path(output)
    fmt = output.suffix.lstrip(".") or "svg"
    if fmt != "dot" and fmt not in graphviz.FORMATS:
        raise InputError([f"{output}: cannot draw a '.{fmt}' file; use .svg, .png, .pdf or .dot"])
    graph = draw(plan, down)
    if fmt == "dot":
        output.write_text(graph.source)
    else:
        output.write_bytes(graph.pipe(format=fmt))
    return output
