"""Print sgdlab's import cycles and layout breaches; exit 1 if there are any.

    .venv/bin/python scripts/import_cycles.py            # all three checks
    .venv/bin/python scripts/import_cycles.py --only cycles   # or: cli, size

Static (``ast``) analysis of every ``import`` and ``from ... import`` in ``src/sgdlab``, at module
level and inside functions alike (a lazy import still ties two modules together); only the
bodies of ``if TYPE_CHECKING:`` are skipped (they never run). ``from pkg import name`` counts as
importing the submodule ``pkg.name`` when that is a module, else ``pkg`` itself (its
``__init__``). ``import a.b.c`` counts as importing ``a.b.c`` only (not its parent packages).
Imports by name at run time (``importlib.import_module("...")``) are not seen.

Checks:

- cycles: every strongly connected component of more than one module, with one concrete cycle
  (each edge with the line that makes it);
- cli: no library module imports from ``sgdlab.cli`` (only ``sgdlab.cli.*`` and
  ``sgdlab.__main__`` may);
- size: no source file in ``src`` is over :data:`MAX_LINES` lines.

``tests/test_layout.py`` runs this script.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = "sgdlab"
MAX_LINES = 400
CHECKS = ("cycles", "cli", "size")


def module_files(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``src/package``."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` import names (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def import_edges(files: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported sgdlab module: first line that imports it}."""
    edges: dict[str, dict[str, int]] = {m: {} for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _import_nodes(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _base(module, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in files else base)
            for target in targets:
                if target in files and target != module:
                    edges[module].setdefault(target, node.lineno)
    return edges


def strongly_connected(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's components (iterative), each sorted; only those of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def shortest_cycle(edges: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, staying inside the component."""
    start, inside = component[0], set(component)
    prev: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(edges[node]):
            if child not in inside:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if child not in prev:
                prev[child] = node
                queue.append(child)
    raise AssertionError("a component without a cycle")  # pragma: no cover


def _is_cli(module: str) -> bool:
    return module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli.")


def report(checks=CHECKS, src: Path = SRC) -> tuple[list[str], int]:
    """(lines to print, number of problems) for the chosen checks."""
    files = module_files(src)
    edges = import_edges(files)
    lines, problems = [], 0
    rel = {m: p.relative_to(src.parent) for m, p in files.items()}

    if "cycles" in checks:
        components = strongly_connected(edges)
        for comp in components:
            lines.append(f"import cycle among {len(comp)} modules: {', '.join(comp)}")
            cycle = shortest_cycle(edges, comp)
            for a, b in zip(cycle[:-1], cycle[1:], strict=True):
                lines.append(f"    {a} -> {b}  ({rel[a]}:{edges[a][b]})")
        problems += len(components)
        if not components:
            lines.append("no import cycles")

    if "cli" in checks:
        bad = [
            (m, t)
            for m in sorted(edges)
            if not _is_cli(m) and m != f"{PACKAGE}.__main__"
            for t in sorted(edges[m])
            if _is_cli(t)
        ]
        for m, t in bad:
            lines.append(f"library module imports the CLI: {m} -> {t}  ({rel[m]}:{edges[m][t]})")
        problems += len(bad)
        if not bad:
            lines.append(f"no library module imports {PACKAGE}.cli")

    if "size" in checks:
        long = []
        for path in sorted(src.rglob("*.py")):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_LINES:
                long.append(f"over {MAX_LINES} lines: {path.relative_to(src.parent)} ({n})")
        lines += long
        problems += len(long)
        if not long:
            lines.append(f"no source file over {MAX_LINES} lines")
    return lines, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=CHECKS, action="append", help="run only this check")
    args = ap.parse_args(argv)
    lines, problems = report(tuple(args.only or CHECKS))
    print("\n".join(lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
