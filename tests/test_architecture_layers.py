"""The shape of `agent/`: imports follow the stage order of docs/architecture.md ("Layers"), stages do
not import each other in a cycle, and no stage imports another stage's private names.

`python tests/test_architecture_layers.py` prints the stage graph (who imports whom, with the
module-level arrows that make each edge)."""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "agent"
DOC = ROOT / "docs" / "architecture.md"

# Arrows against the order that a move has not fixed yet (importer module, imported module). Each
# one must still exist; remove it once fixed. See "Layers" in docs/architecture.md.
UPWARD_PENDING: set[tuple[str, str]] = set()


# ---- the modules of agent/ and their imports ---------------------------------------------------

@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py under agent/ (a package by its __init__.py)."""
    found = {}
    for path in sorted(AGENT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def stage_of(module: str) -> str:
    """`cli/` for agent.cli.main, `pipeline.py` for agent.pipeline, `__init__.py` for agent itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__.py"
    if (AGENT / parts[1]).is_dir():
        return parts[1] + "/"
    return parts[1] + ".py"


def _deepest_module(name: str) -> str | None:
    """The module an import of `name` loads last: agent.x.y.z (a function z of agent.x.y) -> agent.x.y."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@lru_cache(maxsize=1)
def imports() -> list[tuple[str, str, str | None, int]]:
    """(importer, imported module, imported name or None, line) for every import inside agent/, at
    any depth of the file (module level, functions, classes, `if` blocks)."""
    mods = modules()
    found = []
    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "agent" or alias.name.startswith("agent."):
                        found.append((module, _deepest_module(alias.name), None, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, node)
                if not (base == "agent" or base.startswith("agent.")):
                    continue
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in mods:  # `from agent.verify import usage`: the module itself
                        found.append((module, target, None, node.lineno))
                    else:
                        found.append((module, _deepest_module(base), alias.name, node.lineno))
    return found


def stage_arrows() -> dict[tuple[str, str], list[str]]:
    """(importer stage, imported stage) -> the imports making that arrow, as `module -> module (line n)`."""
    arrows = defaultdict(list)
    for importer, imported, _, line in imports():
        a, b = stage_of(importer), stage_of(imported)
        if a != b:
            arrows[(a, b)].append(f"{importer} -> {imported} (line {line})")
    return arrows


# ---- the order, as docs/architecture.md states it ------------------------------------------------

def documented_layers() -> list[list[str]]:
    """The numbered list of the doc's "Layers" section: one list of stages per line, top first."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"^## Layers\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"{DOC}: no '## Layers' section"
    layers = [re.findall(r"`([^`]+)`", line) for line in re.findall(r"^\d+\. (.*)$", match.group(1), re.M)]
    assert layers and all(layers), f"{DOC}: the Layers section has no numbered list of `stage` names"
    return layers


def rank() -> dict[str, int]:
    ranks = {}
    for i, layer in enumerate(documented_layers()):
        for stage in layer:
            assert stage not in ranks, f"{DOC}: {stage} is listed twice in Layers"
            ranks[stage] = i
    return ranks


def _pending(importer: str, imported: str) -> bool:
    return (importer, imported) in UPWARD_PENDING


# ---- the checks ------------------------------------------------------------------------------------

def test_every_stage_is_placed():
    ranks = rank()
    stages = {stage_of(m) for m in modules()}
    assert not stages - set(ranks), (f"stages missing from the Layers list of {DOC.name}: "
                                     f"{sorted(stages - set(ranks))}")
    assert not set(ranks) - stages, f"Layers names stages that do not exist: {sorted(set(ranks) - stages)}"


def test_imports_go_down_the_layers():
    ranks = rank()
    wrong = []
    for importer, imported, _, line in imports():
        a, b = stage_of(importer), stage_of(imported)
        if a != b and ranks[b] <= ranks[a] and not _pending(importer, imported):
            where = "on its own line" if ranks[a] == ranks[b] else "above it"
            wrong.append(f"{importer} (line {line}) imports {imported}: {b} is {where} ({a} may import only "
                         "stages listed below it)")
    assert not wrong, "imports against the Layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_pending_arrows_still_exist():
    seen = {(importer, imported) for importer, imported, _, _ in imports()}
    assert not UPWARD_PENDING - seen, f"fixed, remove from UPWARD_PENDING: {sorted(UPWARD_PENDING - seen)}"


def test_no_cycle_between_stages():
    graph = defaultdict(set)
    for importer, imported, _, _ in imports():
        a, b = stage_of(importer), stage_of(imported)
        if a != b and not _pending(importer, imported):
            graph[a].add(b)
    cycles = _cycles(graph)
    arrows = stage_arrows()
    detail = [" -> ".join(c + [c[0]]) + "\n  " + "\n  ".join(
        arrows[(c[i], c[(i + 1) % len(c)])][0] for i in range(len(c))) for c in cycles]
    assert not cycles, "import cycles between stages:\n" + "\n".join(detail)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one stage (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_one_cycle(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path from the component's first stage back to itself, inside the component (breadth first)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return sorted(component)


def test_no_private_names_across_stages():
    wrong = []
    for importer, imported, name, line in imports():
        if stage_of(importer) == stage_of(imported):
            continue
        leaf = name if name is not None else imported.rpartition(".")[2]
        if leaf.startswith("_") and not (leaf.startswith("__") and leaf.endswith("__")):
            wrong.append(f"{importer} (line {line}) imports {leaf} from {imported}")
    assert not wrong, ("private names imported from another stage (make them public where they are, or move "
                       "them to the stage that uses them):\n" + "\n".join(wrong))


def test_the_checker_sees_every_kind_of_import():
    """The resolution itself: relative imports, `from . import`, function-level imports."""
    got = {(a, b, n) for a, b, n, _ in imports()}
    assert ("agent.sandbox.session", "agent.sandbox.wire", None) in got  # from agent.sandbox import wire
    assert ("agent.pipeline", "agent.config", "UsageError") in got
    assert any(a == "agent.pipeline" and b == "agent.repair.loop" for a, b, _ in got)  # function level
    assert stage_of("agent.cli.main") == "cli/" and stage_of("agent.pipeline") == "pipeline.py"
    assert stage_of("agent") == "__init__.py"
    tree = ast.parse("from . import wire\nfrom ..kb.store import KB\n")
    relative = [_absolute("agent.sandbox.session", n) for n in tree.body]
    assert relative == ["agent.sandbox", "agent.kb.store"]


if __name__ == "__main__":
    arrows = stage_arrows()
    graph = defaultdict(set)
    for a, b in arrows:
        graph[a].add(b)
    ranks = rank()
    for a in sorted(graph, key=lambda s: (ranks.get(s, 99), s)):
        print(f"{a:14} -> {' '.join(sorted(graph[a], key=lambda s: (ranks.get(s, 99), s)))}")
    print()
    for (a, b), lines in sorted(arrows.items()):
        print(f"{a} -> {b}:")
        for line in lines:
            print("   ", line)


def test_modules_and_functions_stay_small():
    """No module of agent/ over 500 lines, no function over 80 (issue 18's size bounds)."""
    too_long = []
    for name, path in modules().items():
        text = path.read_text()
        if text.count("\n") > 500:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert not too_long, too_long
