"""The packages of skugraph import one another without a circle.

A "unit" is a top-level subpackage (skugraph.fusion) or top-level module (skugraph.pipeline) of skugraph.
Every import in every module counts, at module level or inside a function, so a lazy import cannot
hide a circle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "skugraph"
#: the layering, lowest first: a unit imports only units of its own layer or lower ones
#: (units not named here, such as sample and fuzz, are checked for circles only)
LAYERS = (
    ("records", "tables", "metrics"),
    ("corpus",),
    ("lm",),
    ("tagging",),
    ("facts",),
    ("fusion",),
    ("graph",),
    ("extract",),
    ("apps", "serve", "scale"),
    ("pipeline",),
    ("bench",),
    ("cli",),
)


def unit_of(dotted: str) -> str | None:
    """The top-level unit of a dotted skugraph module name; None outside skugraph or for the bare root."""
    parts = dotted.split(".")
    if parts[0] != "skugraph" or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path) -> str:
    """The dotted name of a module file under PACKAGE_ROOT (a package's __init__ names the package)."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every dotted module name `path` imports, with its line: absolute and relative, at any depth.

    `from skugraph import fusion` yields skugraph.fusion, so importing a unit through the root counts.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = own.split(".")
                drop = node.level - 1 if is_package else node.level
                base = ".".join(anchor[: len(anchor) - drop])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return found


def unit_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the places ("file:line") that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        source_unit = unit_of(module_name(path))
        if source_unit is None:
            continue
        for target, line in imported_modules(path):
            target_unit = unit_of(target)
            if target_unit is None or target_unit == source_unit:
                continue
            if not (PACKAGE_ROOT / target_unit).is_dir() and not (PACKAGE_ROOT / f"{target_unit}.py").is_file():
                continue  # `from skugraph import __version__`: a name, not a unit
            place = f"{path.relative_to(PACKAGE_ROOT.parent)}:{line}"
            if place not in graph[source_unit][target_unit]:
                graph[source_unit][target_unit].append(place)
    return graph


def find_cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        on_stack.add(unit)
        for target in graph.get(unit, {}):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in on_stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return components


def describe(component: list[str], graph: dict[str, dict[str, list[str]]]) -> str:
    """Each edge inside a circle with the places that make it."""
    lines = [" <-> ".join(component)]
    for source in component:
        for target in component:
            if target in graph.get(source, {}):
                lines.append(f"  {source} -> {target}: {', '.join(graph[source][target])}")
    return "\n".join(lines)


def test_relative_imports_resolve_to_their_unit() -> None:
    path = PACKAGE_ROOT / "facts" / "build.py"
    assert unit_of(module_name(path)) == "facts"
    assert unit_of("skugraph.fusion.brands") == "fusion"
    assert unit_of("skugraph") is None
    assert unit_of("numpy.linalg") is None


def test_find_cycles_reports_a_circle_and_not_a_chain() -> None:
    chain = {"a": {"b": ["x:1"]}, "b": {"c": ["y:2"]}}
    assert find_cycles(chain) == []
    circle = {"a": {"b": ["x:1"]}, "b": {"c": ["y:2"]}, "c": {"a": ["z:3"]}}
    assert find_cycles(circle) == [["a", "b", "c"]]


def test_no_import_circle_between_packages() -> None:
    graph = unit_graph()
    assert len(graph) > 5, "the walk found too few units: is PACKAGE_ROOT right?"
    cycles = find_cycles(graph)
    if cycles:
        report = "\n".join(describe(component, graph) for component in cycles)
        print(report)
        pytest.fail(f"import circles between packages:\n{report}")


def test_no_package_imports_a_higher_layer() -> None:
    layer_of = {unit: level for level, units in enumerate(LAYERS) for unit in units}
    upward = [f"{source} -> {target}: {', '.join(places)}"
              for source, targets in sorted(unit_graph().items()) for target, places in sorted(targets.items())
              if source in layer_of and target in layer_of and layer_of[target] > layer_of[source]]
    assert not upward, "imports from a lower layer into a higher one:\n" + "\n".join(upward)
