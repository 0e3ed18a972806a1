"""The package's import structure, read from the source with ``ast``: no import cycles (a cycle hidden
inside a function is still a cycle), no private name imported from another module, imports at the top
of modules except the optional heavy dependencies loaded lazily on purpose, and small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ganbench"
# Optional dependencies, imported only when the feature that needs them is used.
LAZY_ALLOWED = ("ray", "submitit", "torch_fidelity")
# Heavy imports deferred to the one function that needs them, so that `ganbench --help` and every run's
# start-up do not pay for them (measured with `python -X importtime`: torchvision ~2-4 s, sklearn ~2 s,
# matplotlib ~1 s on a 2-core machine). Each pair is (module, imported module), listed on purpose.
DEFERRED_FOR_STARTUP = {
    ("ganbench.data.embedded", "sklearn.datasets"),
    ("ganbench.data.embedded", "sklearn.model_selection"),
    ("ganbench.data.real", "torchvision"),
    ("ganbench.data.real", "torchvision.datasets"),
    ("ganbench.data.real", "torchvision.datasets.utils"),
    ("ganbench.metrics.memorisation", "sklearn.cluster"),
    ("ganbench.results.plots", "torchvision.utils"),
    ("ganbench.training", "ganbench.results.plots"),
}
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """``(target module, imported names, nested)`` for every import statement of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    yield a.name, [], nested
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base]).strip(".")
                yield base, [a.name for a in child.names], nested
            yield from visit(child, inner)

    yield from visit(tree, False)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, names, _ in _imports(name, path):
            if not target.startswith("ganbench"):
                continue
            # `from pkg import submodule` imports the submodule; `from mod import name` imports mod.
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for t in subs or [target]:
                if t in MODULES and t != name:
                    graph[name].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
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

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_checker_finds_a_cycle_and_a_nested_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    src = tmp_path / "m.py"
    src.write_text("import os\n\ndef f():\n    from ganbench.data import load_dataset\n")
    found = list(_imports("ganbench.m", src))
    assert ("os", [], False) in found and ("ganbench.data", ["load_dataset"], True) in found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_no_private_name_imported_from_another_module():
    bad = [f"{name} imports {target}.{n}" for name, path in MODULES.items()
           for target, names, _ in _imports(name, path) if target.startswith("ganbench")
           for n in names if n.startswith("_") and not n.startswith("__")]  # fmt: skip
    assert bad == []


def test_imports_at_the_top_except_optional_dependencies():
    nested = [f"{name}: {target}" for name, path in MODULES.items() for target, _, inner in _imports(name, path)
              if inner and target.split(".")[0] not in LAZY_ALLOWED
              and (name, target) not in DEFERRED_FOR_STARTUP]  # fmt: skip
    assert nested == []
    stale = [pair for pair in DEFERRED_FOR_STARTUP
             if not any(inner and t == pair[1] for t, _, inner in _imports(pair[0], MODULES[pair[0]]))]
    assert stale == [], "listed as deferred but no longer imported inside a function"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concern"
