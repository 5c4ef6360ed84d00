"""The package's import graph: no cycle, and the layers of DESIGN.md.

The graph is built from the source (the AST), not by importing anything, so a test run that
happens to import modules in a lucky order cannot hide a cycle.

What counts as an edge A -> B: every `import B` / `from B import x` in A, wherever it stands,
module level or inside a function (a function-local import is still a dependency: it only
postpones the cycle to the first call). Imports under `if TYPE_CHECKING:` are left out of the
cycle test, because they never run; the layering rules and the cycles DESIGN.md names count
them too, since a type-only import from a layer above is still the layering broken. An import
of `a.b.c` is an edge to `a.b.c` only: Python runs the parent packages' `__init__` first, but
those only re-export their modules and are not what the importing module depends on.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bookreader"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, typing_only: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement, with whether it stands under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, typing_only
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), typing_only)
        else:
            yield from _imports(node, typing_only)


def _targets(module: str, node: ast.stmt) -> set[str]:
    """The bookreader modules an import statement in `module` imports."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        assert isinstance(node, ast.ImportFrom)
        base = node.module or ""
        if node.level:
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        # `from pkg import sub` imports the submodule pkg.sub when there is one.
        names = {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {name for name in names if name in MODULES}


def import_graph(include_type_checking: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node, typing_only in _imports(tree):
            if include_type_checking or not typing_only:
                edges |= _targets(module, node)
        graph[module] = edges - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


GRAPH = import_graph(include_type_checking=False)
FULL_GRAPH = import_graph(include_type_checking=True)


def test_the_graph_is_read() -> None:
    # A parser that found no edges would pass every test below.
    assert "bookreader.engines.retrieval" in GRAPH["bookreader.engines.infini"]
    assert "bookreader.infini.config" in GRAPH["bookreader.infini.model"]
    assert "bookreader.tui.session" in GRAPH["bookreader.tui.screens.chat"]


def test_find_cycle_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    assert find_cycle(GRAPH) is None


def test_no_import_cycle_even_for_type_checking() -> None:
    assert find_cycle(FULL_GRAPH) is None


def _importers(prefix: str) -> dict[str, set[str]]:
    return {m: FULL_GRAPH[m] for m in FULL_GRAPH if m == prefix or m.startswith(prefix + ".")}


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("bookreader.loaders", ("bookreader.engines", "bookreader.cli", "bookreader.tui")),
        ("bookreader.engines", ("bookreader.cli", "bookreader.tui")),
        (
            "bookreader.infini",
            ("bookreader.hf", "bookreader.engines", "bookreader.cli", "bookreader.tui"),
        ),
        ("bookreader.hf", ("bookreader.engines", "bookreader.cli", "bookreader.tui")),
        ("bookreader.training", ("bookreader.cli", "bookreader.tui")),
        ("bookreader.book", ("bookreader.loaders", "bookreader.engines")),
    ],
)
def test_layers(layer: str, forbidden: tuple[str, ...]) -> None:
    broken = {
        (module, target)
        for module, targets in _importers(layer).items()
        for target in targets
        if _under(target, *forbidden)
    }
    assert broken == set()


def test_neither_engine_imports_the_other() -> None:
    extractive, infini = "bookreader.engines.extractive", "bookreader.engines.infini"
    assert extractive not in FULL_GRAPH[infini]
    assert infini not in FULL_GRAPH[extractive]


def test_the_cycles_design_names_are_gone() -> None:
    # The model does not import generation back; InfiniConfig is below the attention layer.
    assert "bookreader.infini.stream" not in FULL_GRAPH["bookreader.infini.model"]
    assert "bookreader.infini.model" not in FULL_GRAPH["bookreader.infini.attention"]
    assert FULL_GRAPH["bookreader.infini.config"] <= {
        "bookreader.infini.memory",
        "bookreader.infini.tokenizer",
    }
    # Screens and widgets never import the app; the session knows no Textual.
    for module, targets in _importers("bookreader.tui").items():
        if module != "bookreader.tui.app":
            assert "bookreader.tui.app" not in targets, module
    session = MODULES["bookreader.tui.session"].read_text(encoding="utf-8")
    assert "textual" not in session


def test_only_hf_imports_transformers() -> None:
    for module, path in MODULES.items():
        if _under(module, "bookreader.hf"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, _ in _imports(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]  # type: ignore[attr-defined]
            )
            assert not any(n.split(".")[0] == "transformers" for n in names), module
