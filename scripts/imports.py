#!/usr/bin/env python3
"""Print the import graph between the project's packages and modules; fail on a cycle or on an
import against the layers `api → mediation → geo → core`.

Every import counts, function-local ones included (they are read from the syntax tree, not by
running the code). Two graphs are checked:

- modules: no module may reach itself through imports;
- components (a sub-package such as `mediation.disputes`, or a lone module such as
  `mediation.pii`): no component may reach itself either, so two packages never lean on each other.

Usage: python scripts/imports.py [--quiet]     (exit 1 on a violation; `make lint` runs it)
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ["core", "geo", "mediation", "api"]  # each may import only those before it
COMPOSITION_ROOTS = {"wsgi", "deploy"}  # may import anything (they wire the app together)
SKIP_DIRS = {".venv", ".git", "tests", "bench", "migrations", "scripts", "var", "node_modules"}


def project_modules() -> dict[str, str]:
    """Dotted module name → file path, for every .py file of the project's packages."""
    out = {}
    for base, dirs, files in os.walk(ROOT):
        rel = os.path.relpath(base, ROOT)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in files:
            if not name.endswith(".py"):
                continue
            parts = [] if rel == "." else rel.split(os.sep)
            stem = name[:-3]
            if rel == "." and stem not in {"wsgi"}:
                continue  # loose files at the top other than the entry point are not modules
            mod = ".".join([*parts] if stem == "__init__" else [*parts, stem])
            out[mod] = os.path.join(base, name)
    return out


def imports_of(path: str, module: str, known: set[str]) -> set[str]:
    """The project modules a file imports, anywhere in it."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    is_pkg = path.endswith("__init__.py")
    package = module if is_pkg else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        for name in names:
            # the longest known module the name starts with
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def layer_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in LAYERS or top in COMPOSITION_ROOTS else None


def component_of(module: str, packages: set[str]) -> str:
    """`mediation.disputes.flow` → `mediation.disputes`; `mediation.pii` → `mediation.pii`."""
    parts = module.split(".")
    if len(parts) >= 2 and ".".join(parts[:2]) in packages:
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 else parts[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quiet", action="store_true", help="print only violations")
    args = ap.parse_args()
    modules = project_modules()
    known = set(modules)
    packages = {m for m, p in modules.items() if p.endswith("__init__.py")}
    graph = {m: imports_of(p, m, known) for m, p in modules.items()}

    problems = []
    for src, targets in sorted(graph.items()):
        ls = layer_of(src)
        if ls is None or ls in COMPOSITION_ROOTS:
            continue
        for dst in sorted(targets):
            ld = layer_of(dst)
            if ld is None:
                continue
            if ld in COMPOSITION_ROOTS or LAYERS.index(ld) > LAYERS.index(ls):
                problems.append(f"against the layers: {src} imports {dst} ({ls} → {ld})")

    for comp in cycles(graph):
        problems.append("module cycle: " + " ↔ ".join(comp))
    cgraph: dict[str, set[str]] = defaultdict(set)
    weight: dict[tuple[str, str], int] = defaultdict(int)
    for src, targets in graph.items():
        cs = component_of(src, packages)
        for dst in targets:
            cd = component_of(dst, packages)
            if cs != cd:
                cgraph[cs].add(cd)
                weight[cs, cd] += 1
    for comp in cycles(cgraph):
        problems.append("package cycle: " + " ↔ ".join(comp))

    if not args.quiet:
        print(f"{len(modules)} modules; imports between components (number of module imports):")
        for (a, b), n in sorted(weight.items()):
            print(f"  {a:32} → {b:32} {n}")
    for p in problems:
        print("ERROR", p)
    if problems:
        print(f"{len(problems)} violation(s)")
        return 1
    print("import graph: no cycles, every import follows api → mediation → geo → core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
