"""Drawing a plan with Graphviz: nodes by kind, links labelled with interfaces and addresses; and its AS-level
graph, each AS coloured by the origin its best path to a prefix follows (who follows a hijacker)."""
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


# origins' colours, in the order they are met (the legitimate origin usually first); no route: grey
_ORIGIN_COLOURS = ["#8fd19e", "#f4a3a3", "#9ec5f4", "#f7d08a", "#c9a3f4", "#a3e4e4"]
_NO_ROUTE = "#dddddd"


def ases(plan: Plan) -> dict[int, list[str]]:
    """Each AS of the plan and its routers, in plan order."""
    found: dict[int, list[str]] = {}
    for node in plan.nodes.values():
        if node.routing and node.routing.asn:
            found.setdefault(node.routing.asn, []).append(node.name)
    return found


def draw_ases(plan: Plan, origins: dict[str, int | None] | None = None, prefix: str | None = None,
              legit: int | None = None) -> graphviz.Digraph:
    """The AS-level graph: an AS per box (its routers inside), providers above their customers (an arrow down to
    each customer), peers side by side (a dashed line). With `origins` (router -> the origin AS of its best path
    to `prefix`, None for no route), each AS is filled with the colour of the origin its routers follow; `legit`
    is the origin drawn first (green)."""
    members = ases(plan)
    asn_of = {r: asn for asn, routers in members.items() for r in routers}
    title = plan.name + (f": who reaches {prefix} where (the colour is the origin AS each AS follows)" if prefix else
                         ": its ASes (arrows point from a provider to its customer, dashed lines join peers)")
    graph = graphviz.Digraph(f"{plan.name}-ases", graph_attr={"label": title, "labelloc": "t", "fontname": "Helvetica",
                                                               "rankdir": "TB", "nodesep": "0.4", "ranksep": "0.6"},
                             node_attr={"fontname": "Helvetica", "shape": "box", "style": "rounded,filled"},
                             edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    followed = list(dict.fromkeys(([legit] if legit is not None else []) +
                                  [o for o in (origins or {}).values() if o is not None]))
    colour = {origin: _ORIGIN_COLOURS[k % len(_ORIGIN_COLOURS)] for k, origin in enumerate(followed)}
    for asn, routers in members.items():
        seen = {(origins or {}).get(r) for r in routers} if origins is not None else set()
        fill = "#fde9c9" if origins is None else colour.get(next(iter(seen)), _NO_ROUTE) if len(seen) == 1 else \
            ":".join(colour.get(o, _NO_ROUTE) for o in seen)
        follows = "" if origins is None else "\n-> " + ", ".join("no route" if o is None else f"AS{o}" for o in seen)
        graph.node(f"AS{asn}", f"AS{asn}\n{' '.join(routers)}{follows}", fillcolor=fill)
    drawn = set()
    for link in plan.links:
        a, b = (e[0] for e in link.ends())
        if a not in asn_of or b not in asn_of or asn_of[a] == asn_of[b]:
            continue
        pair = frozenset((asn_of[a], asn_of[b]))
        if pair in drawn:
            continue
        drawn.add(pair)
        role = next((n.relationship for n in plan.node(a).routing.neighbors if n.node == b), None)
        if role == "peer":
            graph.edge(f"AS{asn_of[a]}", f"AS{asn_of[b]}", dir="none", style="dashed", constraint="false")
        elif role in ("customer", "provider"):
            provider, customer = (a, b) if role == "customer" else (b, a)
            graph.edge(f"AS{asn_of[provider]}", f"AS{asn_of[customer]}")
        else:
            graph.edge(f"AS{asn_of[a]}", f"AS{asn_of[b]}", dir="none")
    if origins is not None:
        with graph.subgraph(name="cluster_legend", graph_attr={"label": "origin followed", "fontsize": "10"}) as key:
            for origin in followed + [None]:
                key.node(f"legend-{origin}", "no route" if origin is None else f"AS{origin}",
                         fillcolor=colour.get(origin, _NO_ROUTE), fontsize="10")
    return graph


def render(plan: Plan, down: set[int], output: str | Path, as_level: bool = False,
           origins: dict[str, int | None] | None = None, prefix: str | None = None) -> Path:
    """Write the picture (the lab's, or its AS-level graph); the format follows the file's suffix (svg, png, pdf,
    dot)."""
    output = Path(output)
    fmt = output.suffix.lstrip(".") or "svg"
    if fmt != "dot" and fmt not in graphviz.FORMATS:
        raise InputError([f"{output}: cannot draw a '.{fmt}' file; use .svg, .png, .pdf or .dot"])
    if as_level and not ases(plan):
        raise InputError([f"{plan.name} has no routers with an asn: there is no AS-level graph to draw"])
    graph = draw_ases(plan, origins, prefix) if as_level else draw(plan, down)
    if fmt == "dot":
        output.write_text(graph.source)
    else:
        output.write_bytes(graph.pipe(format=fmt))
    return output
