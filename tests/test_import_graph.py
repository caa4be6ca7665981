"""The package has no import cycles: not between modules, and not between its subpackages
(``labels`` -> ``active`` -> ``labels`` was one, hidden by imports inside functions).

Every import counts, wherever it is written; ``from stance.labels import select`` is an
import of the submodule ``stance.labels.select``.
"""

import ast
from pathlib import Path

import stance

PACKAGE = Path(stance.__file__).parent


def module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, from the source of every file under ``root``."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                             for alias in node.names)
        graph[name] = {_nearest(target, modules) for target in found if _nearest(target, modules)} - {name}
    return graph


def _nearest(target: str, modules: dict) -> str | None:
    """The module of ``target`` (``stance.x.y`` for ``stance.x.y.function``), if it is the package's."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def subpackage_graph(graph: dict[str, set[str]], root: Path) -> dict[str, set[str]]:
    """The same imports between units: a subpackage with everything in it, or a top-level module."""
    def unit(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 and (root / parts[1]).is_dir() else module
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    return units


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_a_module_that_imports_it_back():
    graph = module_graph(PACKAGE)
    assert len(graph) > 40 and "stance.labels.push" in graph["stance.cli.labels"]
    assert cycles(graph) == []


def test_no_subpackage_imports_one_that_imports_it_back():
    units = subpackage_graph(module_graph(PACKAGE), PACKAGE)
    assert "stance.experiments" in units["stance.scoring"]  # serve retrains: an import inside a function
    assert cycles(units) == []


#: The loop's stages in order; each may import only those before it (and the shared modules, stage 0).
STAGES = {**dict.fromkeys(["stance", "stance.errors", "stance.progress", "stance.parallel", "stance.schema",
                           "stance.resources", "stance.plots", "stance.webpage", "stance.quantify"], 0),
          "stance.ingest": 1, "stance.studio": 2, "stance.labels": 3, "stance.encoders": 4, "stance.model": 5,
          "stance.experiments": 6, "stance.scoring": 7, "stance.findings": 8, "stance.demo": 9, "stance.cli": 10,
          "stance.__main__": 11}


def against_the_order(units: dict[str, set[str]], stages: dict[str, int]) -> list[tuple[str, str]]:
    """The imports of a unit from a later stage, or from another unit of its own (shared modules,
    stage 0, may import one another)."""
    return sorted((unit, target) for unit, targets in units.items() for target in targets
                  if stages[target] > stages[unit] or stages[target] == stages[unit] != 0)


def test_each_stage_imports_only_the_stages_before_it():
    units = subpackage_graph(module_graph(PACKAGE), PACKAGE)
    assert set(units) == set(STAGES), "a new unit needs its place in STAGES"
    assert against_the_order(units, STAGES) == []


def test_the_stage_check_sees_an_import_against_the_order(tmp_path):
    package = tmp_path / "pkg"
    for stage in ("ingest", "model"):
        (package / stage).mkdir(parents=True)
        (package / stage / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "ingest" / "corpus.py").write_text("def build():\n    from pkg.model import runs\n")
    (package / "model" / "runs.py").write_text("")
    units = subpackage_graph(module_graph(package), package)
    stages = {"pkg": 0, "pkg.ingest": 1, "pkg.model": 5}
    assert against_the_order(units, stages) == [("pkg.ingest", "pkg.model")]   # reaching up, inside a function


def test_the_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / "pkg"
    (package / "labels").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "labels" / "__init__.py").write_text("")
    (package / "labels" / "push.py").write_text("def push():\n    from pkg import active\n")
    (package / "active.py").write_text("from .labels import push\n")
    graph = module_graph(package)
    assert graph["pkg.active"] == {"pkg.labels.push"} and graph["pkg.labels.push"] == {"pkg.active"}
    assert cycles(graph) == [["pkg.active", "pkg.labels.push"]]
    assert cycles(subpackage_graph(graph, package)) == [["pkg.active", "pkg.labels"]]
