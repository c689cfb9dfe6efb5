# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The layout of python/ibverbs_ext: private modules in layers, no import circle, no module
importing the package itself, every file under the project's ~800 lines (python/README.md)."""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(REPO, "python", "ibverbs_ext")
MODULES = sorted(f[:-3] for f in os.listdir(PKG) if f.endswith(".py"))
MAX_LINES = 800


def _relative_imports(name):
    """The package modules *name* imports: (module, line) for each ``from . import x`` and
    ``from .x import ...``; a name of ``from . import`` that is not a module is kept as is
    (the package's own namespace: what made the old circle)."""
    with open(os.path.join(PKG, name + ".py")) as f:
        tree = ast.parse(f.read(), name)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.append((node.module, node.lineno))
            else:
                out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            out.append(("." * node.level + (node.module or ""), node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names
                       if a.name.split(".")[0] == "ibverbs_ext")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == \
                "ibverbs_ext":
            out.append((node.module, node.lineno))
    return out


def test_the_package_has_its_layers():
    assert {"__init__", "_capi", "_errors", "_types", "_query", "_mr", "_dmabuf"} <= \
        set(MODULES), MODULES


@pytest.mark.parametrize("name", [m for m in MODULES if m != "__init__"])
def test_module_imports_only_modules_not_the_package(name):
    bad = [f"{name}.py:{line}: {what}" for what, line in _relative_imports(name)
           if what not in MODULES or what == "__init__"]
    assert not bad, "imports the package (or a name of it) instead of a module: " + \
        "; ".join(bad)


def test_no_import_circle():
    # a name that is not a module comes from the package's namespace: an edge to __init__
    graph = {m: {w if w in MODULES else "__init__" for w, _ in _relative_imports(m)} - {m}
             for m in MODULES}
    assert all("__init__" not in deps for m, deps in graph.items() if m != "__init__"), graph
    order, done = [], set()
    while len(done) < len(graph):
        ready = sorted(m for m, deps in graph.items() if m not in done and deps <= done)
        assert ready, f"import circle among {sorted(set(graph) - done)}: " + \
            str({m: sorted(graph[m] - done) for m in sorted(set(graph) - done)})
        order += ready
        done |= set(ready)
    assert order[-1] == "__init__", order


@pytest.mark.parametrize("name", MODULES)
def test_module_is_under_the_line_limit(name):
    with open(os.path.join(PKG, name + ".py")) as f:
        n = sum(1 for _ in f)
    assert n < MAX_LINES, f"{name}.py has {n} lines (limit ~{MAX_LINES}): split it"
