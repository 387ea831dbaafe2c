#!/usr/bin/env python3
"""Fail when a view grows past MAX_LINES lines of body.

A view parses its input, calls a service function, commits once and shapes the answer; the logic
lives in `mediation/…` or in small helpers under `api/`. A view is, in any file under `api/`:

- a function decorated with a blueprint's `route`/`get`/`post`/`put`/`patch`/`delete`;
- a method of a class that derives from `MethodView`.

The body is counted from its first statement to its end, the docstring excluded.

Usage: python scripts/views.py [--top N]     (exit 1 on a view over the limit; `make lint` runs it)
"""

from __future__ import annotations

import argparse
import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 15
ROUTE_DECORATORS = {"route", "get", "post", "put", "patch", "delete"}
# "path:View.method" or "path:function" → why it may be longer. Keep it empty if you can.
ALLOWED: dict[str, str] = {}


def _is_route(dec: ast.expr) -> bool:
    func = dec.func if isinstance(dec, ast.Call) else dec
    return isinstance(func, ast.Attribute) and func.attr in ROUTE_DECORATORS


def _is_method_view(cls: ast.ClassDef) -> bool:
    for base in cls.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name == "MethodView":
            return True
    return False


def body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and len(body) > 1
    ):
        first = body[1]
    return fn.end_lineno - first.lineno + 1


def views_of(path: str) -> list[tuple[str, int, int]]:
    """(name, line, body lines) of every view in one file."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    out = []
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, funcs) and any(_is_route(d) for d in node.decorator_list):
            out.append((node.name, node.lineno, body_lines(node)))
        elif isinstance(node, ast.ClassDef) and _is_method_view(node):
            for item in node.body:
                if isinstance(item, funcs) and not item.name.startswith("_"):
                    out.append((f"{node.name}.{item.name}", item.lineno, body_lines(item)))
    return out


def all_views() -> list[tuple[str, str, int, int]]:
    found = []
    for base, dirs, files in os.walk(os.path.join(ROOT, "api")):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(base, name)
                rel = os.path.relpath(path, ROOT)
                found += [(rel, view, line, n) for view, line, n in views_of(path)]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10, help="how many of the longest to print")
    args = parser.parse_args()
    views = sorted(all_views(), key=lambda v: -v[3])
    print(f"{len(views)} views; the longest (limit {MAX_LINES} lines of body):")
    for rel, view, line, n in views[: args.top]:
        print(f"  {n:4d}  {rel}:{line} {view}")
    over = [v for v in views if v[3] > MAX_LINES and f"{v[0]}:{v[1]}" not in ALLOWED]
    for rel, view, line, n in over:
        print(f"{rel}:{line}: view {view} has {n} lines of body (> {MAX_LINES})", file=sys.stderr)
    stale = set(ALLOWED) - {f"{v[0]}:{v[1]}" for v in views if v[3] > MAX_LINES}
    for key in sorted(stale):
        print(f"scripts/views.py: ALLOWED entry {key} is not needed any more", file=sys.stderr)
    return 1 if over or stale else 0


if __name__ == "__main__":
    sys.exit(main())
