"""The import graph of the labctl package: no module imports itself through others, and the layers below import
nothing from the layers above them. Every `import` and `from ... import` counts, in functions too, except those
under `if TYPE_CHECKING:` (they never run). Importing a package is importing its __init__, and so is importing a
module inside it from outside it: Python runs the package's __init__ first."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# (modules, what they must not import); a name stands for the module and everything below it. Data flows one way:
# files -> topology -> plan -> runtime -> scenarios and reports; services render into the plan; kernel and impair
# drive the machine and know nothing of labs.
ABOVE_PLAN = ("labctl.topology", "labctl.services", "labctl.kernel", "labctl.impair", "labctl.runtime",
              "labctl.scenario", "labctl.cli", "labctl.graph", "labctl.needs")
LAYERS = [
    (("labctl.plan", "labctl.units", "labctl.errors", "labctl.paths", "labctl.registry"), ABOVE_PLAN),
    (("labctl.services",), ("labctl.topology", "labctl.kernel", "labctl.impair", "labctl.runtime",
                            "labctl.scenario", "labctl.cli")),
    (("labctl.kernel",), ("labctl.topology", "labctl.services", "labctl.impair", "labctl.runtime",
                          "labctl.scenario", "labctl.cli")),
    (("labctl.impair",), ("labctl.topology", "labctl.services", "labctl.runtime", "labctl.scenario", "labctl.cli")),
    (("labctl.topology",), ("labctl.kernel", "labctl.impair", "labctl.runtime", "labctl.scenario", "labctl.cli")),
    (("labctl.runtime",), ("labctl.scenario", "labctl.cli")),
    (("labctl.scenario",), ("labctl.cli",)),
    # the catalogues (step kinds, assertions, faults, flow types) know nothing of what dispatches to them
    (("labctl.scenario.steps", "labctl.scenario.assertions", "labctl.scenario.faults", "labctl.scenario.flows"),
     ("labctl.scenario.load", "labctl.scenario.runner", "labctl.scenario.suite", "labctl.scenario.console",
      "labctl.scenario.report")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or
                                         isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(node: ast.AST):
    """The import statements below `node`, skipping the bodies of `if TYPE_CHECKING:` (not their else)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif is_type_checking(child):
            for other in child.orelse:
                yield from import_nodes(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from import_nodes(child)


def imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]) -> set[str]:
    """The labctl modules an import statement names: `from labctl.x import y` is labctl.x.y if that is a module,
    else labctl.x."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:                                    # relative: from the importer's package up
        package = importer.split(".")[:len(importer.split(".")) - node.level + is_package]
        base = ".".join(package + ([base] if base else []))
    return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names} & modules


def initialised(target: str, importer: str, modules: set[str]) -> set[str]:
    """`target` and the packages above it whose __init__ runs when `importer` imports it: those it is not in."""
    parts = target.split(".")
    above = {".".join(parts[:i]) for i in range(1, len(parts))}
    return ({target} | {package for package in above if not within(importer, (package,))}) & modules


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in (REPO / "labctl").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        named = set().union(*(imported(n, name, path.name == "__init__.py", set(files)) for n in import_nodes(tree)))
        graph[name] = set().union(*(initialised(t, name, set(files)) for t in named)) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as [a, b, ..., a], or None."""
    done: set[str] = set()

    def visit(path: list[str]) -> list[str] | None:
        for target in sorted(graph[path[-1]]):
            if target in path:
                return path[path.index(target):] + [target]
            if target not in done and (cycle := visit(path + [target])):
                return cycle
        done.add(path[-1])
        return None

    return next((cycle for start in sorted(graph) if start not in done and (cycle := visit([start]))), None)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_graph_sees_imports_in_functions_and_packages_but_not_type_checking_ones():
    graph = import_graph()
    assert "labctl.scenario.context" not in graph["labctl.scenario.steps.base"]       # TYPE_CHECKING only
    assert "labctl.runtime.lab" in graph["labctl.scenario.runner"]                    # inside run_scenario
    assert "labctl.scenario.assertions" in graph["labctl.scenario.assertions.reach"]  # a package is its __init__
    outage = graph["labctl.scenario.assertions.outage"]                               # imports flows.ping:
    assert {"labctl.scenario.flows.ping", "labctl.scenario.flows"} <= outage          # flows/__init__ runs first
    base = graph["labctl.scenario.assertions.base"]                                   # imports steps.assert_:
    assert "labctl.scenario.steps" in base and "labctl.scenario" not in base          # its own packages run already


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers():
    broken = [f"{importer} imports {target}" for modules, forbidden in LAYERS
              for importer, targets in import_graph().items() if within(importer, modules)
              for target in sorted(targets) if within(target, forbidden)]
    assert broken == []