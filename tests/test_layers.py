"""The layers of biodiv import one way, and no two modules import each other (a cycle).

Why a test: docs/architecture.md draws the layers; an import placed inside a function
(to save start-up time) hides an upward import from a reader, so every ``import`` in the
source is parsed, at any depth, and checked against the table below. No new dependency:
the standard library's ``ast``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "biodiv"

# lowest first; a module may import its own package and the packages of lower layers.
# Packages in one layer are peers: they may import each other, as long as no module cycle forms.
LAYERS: list[set[str]] = [
    {"biodiv.errors", "biodiv.files", "biodiv.pandas_guard"},
    {"biodiv.store"},
    {"biodiv.config"},
    {"biodiv.attach"},
    {"biodiv.areas"},
    {"biodiv.analysis", "biodiv.sensitivity"},
    {"biodiv.inat"},
    {"biodiv.pipeline", "biodiv.demo", "biodiv.schedule"},
    # documents and the static site read the dashboard's queries (biodiv/dashboard/data.py,
    # pure SQL): the same figures on screen, on paper and online
    {"biodiv.dashboard", "biodiv.report", "biodiv.publish"},
    {"biodiv.cli", "biodiv.__main__", "biodiv"},
]


def modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the biodiv modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [module] + subs
            for target in targets:
                while target and target not in mods:      # `import biodiv.store.database as x`
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("biodiv"):
                    edges[name].add(target)
    return edges


def layer_of(module: str) -> int:
    for depth in (2, 1):
        head = ".".join(module.split(".")[:depth])
        for i, layer in enumerate(LAYERS):
            if head in layer:
                return i
    raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add its package to LAYERS")


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, bs in edges.items() for b in bs if layer_of(b) > layer_of(a))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    nodes = set(edges) | {b for bs in edges.values() for b in bs}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_every_import_points_down_or_sideways():
    assert upward(imports(modules())) == []


def test_no_import_cycle_between_modules():
    assert cycles(imports(modules())) == []


@pytest.mark.parametrize("source, expect", [
    # an upward import hidden in a function is found
    ({"biodiv/store/x.py": "def f():\n    from biodiv.inat import probe\n", "biodiv/inat/probe.py": ""},
     ("upward", ["biodiv.store.x -> biodiv.inat.probe"])),
    # a cycle through a relative import is found
    ({"biodiv/attach/a.py": "from . import b\n", "biodiv/attach/b.py": "from biodiv.attach.a import f\n"},
     ("cycle", [["biodiv.attach.a", "biodiv.attach.b"]])),
])
def test_the_checks_can_fail(tmp_path, source, expect):
    for rel, text in source.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            if str(parent) != ".":
                (tmp_path / parent / "__init__.py").touch()
        path.write_text(text)
    edges = imports(modules(tmp_path / "biodiv"))
    kind, want = expect
    assert (upward(edges) if kind == "upward" else cycles(edges)) == want
