"""The house, checked from the source: which room may import what, the planner stays pure, no circles.

Read with `ast` (nothing is imported or run), so a lazy import inside a function counts as much
as one at the top of a module. The rooms and their rules are the README's "Architecture" table.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("planner", "shell", "simulation", "presentation", "adapters", "commands")
# room -> the rooms of the project it may import (errors and units are shared vocabulary).
MAY_IMPORT = {
    "vocabulary": {"vocabulary"},
    "planner": {"planner"},
    "shell": {"vocabulary", "planner", "shell", "models", "migrations"},
    "simulation": {"vocabulary", "planner", "shell", "simulation", "models"},
    "presentation": {"vocabulary", "planner", "shell", "simulation", "presentation", "models"},
    "adapters": {"vocabulary", "planner", "shell", "adapters", "models"},
    "commands": {"vocabulary", "planner", "shell", "simulation", "presentation", "adapters", "commands", "models",
                 "migrations"},
    "cli": {"vocabulary", "planner", "shell", "simulation", "presentation", "adapters", "commands", "models",
            "migrations"},
}
# third-party packages a room may import; the standard library is open to all but the planner.
THIRD_PARTY = {
    "vocabulary": set(),
    "planner": set(),
    "shell": {"sqlalchemy", "sqlmodel", "alembic", "highspy", "numpy"},
    "simulation": {"sqlalchemy", "sqlmodel"},
    "presentation": {"rich"},
    "adapters": {"paho", "sqlalchemy", "sqlmodel"},
    "commands": {"typer", "rich", "click", "sqlalchemy"},
    "cli": {"typer", "rich", "click", "sqlalchemy"},
}
PLANNER_STDLIB = {"math", "dataclasses", "datetime", "functools", "itertools", "operator", "bisect", "fractions",
                  "collections", "typing", "enum"}
CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "time_ns")}
IMPURE_CALLS = {"open", "print", "input", "breakpoint"}


def modules() -> dict[str, Path]:
    found = {"cli": ROOT / "cli.py"}
    for path in sorted((ROOT / "reconcile").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "cli":
        return "cli"
    if parts[0] in ("models", "migrations"):
        return parts[0]
    if parts[0] != "reconcile":
        return None
    if len(parts) > 1 and parts[1] in ROOMS:
        return parts[1]
    return "vocabulary"  # reconcile.errors, reconcile.units, the package itself


def imports(tree: ast.AST, module: str) -> set[str]:
    """Every module `tree` imports, anywhere in it, as absolute dotted names."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    return names


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_room_imports_only_what_it_may(module) -> None:
    mine = room(module)
    wrong = []
    for name in sorted(imports(TREES[module], module)):
        top = name.split(".")[0]
        theirs = room(name)
        if theirs is not None:
            ok = theirs in MAY_IMPORT[mine]
        elif top in sys.stdlib_module_names or top == "__future__":
            ok = mine != "planner" or top in PLANNER_STDLIB
        else:
            ok = top in THIRD_PARTY[mine]
        if not ok:
            wrong.append(name)
    assert wrong == [], f"{module} ({mine}) may not import {wrong}"


def clock_reads(tree: ast.AST, reads=CLOCK_READS) -> list[str]:
    """Calls such as `datetime.now()` or `time.time()` in `tree`."""
    return [f"{node.func.value.id}.{node.func.attr}() line {node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in reads]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) == "planner"))
def test_planner_modules_read_no_clock_and_do_no_io(module) -> None:
    tree = TREES[module]
    io = [f"{node.func.id}() line {node.lineno}" for node in ast.walk(tree)
          if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in IMPURE_CALLS]
    assert clock_reads(tree) + io == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) not in ("cli", "commands")))
def test_only_the_command_line_reads_the_environment_or_the_wall_clock(module) -> None:
    """Durations (perf_counter) may be measured anywhere outside the planner; instants come from cli."""
    tree = TREES[module]
    environment = [f"{node.attr} line {node.lineno}" for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")]
    assert clock_reads(tree, CLOCK_READS - {("time", "perf_counter")}) + environment == []


def test_no_import_circles() -> None:
    graph = {m: {n for n in imports(TREES[m], m) if n in MODULES and n != m} for m in MODULES}
    cycles = [scc for scc in _strongly_connected(graph) if len(scc) > 1]
    assert cycles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_checks_see_what_they_should() -> None:
    """The rules are not vacuous: the planner is found, and a forbidden import would be caught."""
    assert {"reconcile.planner.plan", "reconcile.planner.states", "reconcile.shell.store"} <= set(MODULES)
    bad = ast.parse("import os\nfrom sqlalchemy import select\n")
    assert imports(bad, "reconcile.planner.x") == {"os", "sqlalchemy"}
    assert clock_reads(ast.parse("datetime.now(UTC)\ntime.time()\n")) == ["datetime.now() line 1", "time.time() line 2"]
    assert _strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"], ["c"]]
