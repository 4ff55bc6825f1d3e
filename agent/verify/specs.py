"""Where a unit's construction arguments and inputs come from, before any guessing: the user's
`[tool.msagent.verify]` / `msagent.toml`, then instantiations written in the repository itself.

Runs in the CLI process (no torch): source is only parsed. A repo call such as
`Bottleneck(64, 256, stride=2)` or `GPT(GPTConfig(n_layer=2))` becomes a spec whose `init` is
that expression, rewritten so it evaluates in the unit's own module namespace: local variables,
argparse defaults (`args.hidden`) and all-default dataclass configs are resolved into literals,
and repo names the unit's module does not bind are qualified with their module path.
"""
from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from agent.scan.names import parse_python
from agent.verify.call_inputs import call_inputs
from agent.verify.doc_examples import doctest_module

MAX_SPECS = 5
_SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "__pycache__", "node_modules", ".tox"}


def unit_key(unit: dict) -> str:
    return f"{unit['module']}.{unit['name']}"


def _normalize_inputs(inputs):
    if inputs is None:
        return None
    if inputs and isinstance(inputs[0], dict):  # a single size written without the outer list
        return [inputs]
    return [list(size) for size in inputs]


def user_specs(src_root: Path) -> dict[str, list[dict]]:
    """{"pkg.models.Fusion": [spec]} from pyproject's [tool.msagent.verify] and msagent.toml's [verify]."""
    tables = []
    py = src_root / "pyproject.toml"
    if py.is_file():
        tables.append(tomllib.loads(py.read_text()).get("tool", {}).get("msagent", {}).get("verify", {}))
    own = src_root / "msagent.toml"
    if own.is_file():
        tables.append(tomllib.loads(own.read_text()).get("verify", {}))
    out: dict[str, list[dict]] = {}
    for table in tables:
        for key, raw in table.items():
            if isinstance(raw, dict):
                spec = {"source": "user", "init": raw.get("init"), "inputs": _normalize_inputs(raw.get("inputs"))}
                out.setdefault(key, []).append(spec)
    return out


@dataclass
class _File:
    module: str
    tree: ast.Module
    defs: set[str] = field(default_factory=set)  # top-level classes and functions
    imported: dict[str, str] = field(default_factory=dict)  # bound name -> module it comes from
    argparse_defaults: dict[str, ast.expr] = field(default_factory=dict)
    args_vars: set[str] = field(default_factory=lambda: {"args", "opt", "opts"})
    scopes: dict[int, dict[str, list[tuple[int, ast.expr]]]] = field(default_factory=dict)


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve_relative(module: str, is_pkg: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


class RepoIndex:
    """Parsed view of every Python file under SRC: definitions, imports, dataclasses, argparse."""

    def __init__(self, root: Path):
        self.root = root
        self.files: list[_File] = []
        self.definers: dict[str, set[str]] = {}
        self.dataclasses: dict[tuple[str, str], dict[str, ast.expr] | None] = {}
        self._calls: dict[str, list[tuple]] | None = None
        from agent.scan.files import walk_repo

        # the same files the pipeline translates: no FIFOs, no links out of the tree, no huge files
        for item in walk_repo(root):
            if item.kind != "python":
                continue
            path = item.path
            rel = path.relative_to(root.resolve()) if path.is_absolute() else path.relative_to(root)
            if any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
                continue
            try:
                tree = parse_python(path.read_text(encoding="utf-8"), str(path))
            except (SyntaxError, ValueError, RecursionError, OSError):  # undecodable or too deep: no specs
                continue
            f = _File(_module_name(rel), tree)
            self._index(f, path.name == "__init__.py")
            if (docs := doctest_module(tree)) is not None:  # its docstring examples: calls as its authors show them
                self._index(_File(f.module, docs, imported=dict(f.imported)), path.name == "__init__.py", docs=True)

    def calls_named(self, name: str) -> list[tuple]:
        """(file, call node, enclosing scope ids) of every call of a name `name` or attribute `.name`, in
        file order; every file's calls are read once, on the first question."""
        if self._calls is None:
            self._calls = {}
            for f in self.files:
                for call, chain in _calls_with_scopes(f.tree):
                    func = call.func
                    ident = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) \
                        else None
                    if ident is not None:
                        self._calls.setdefault(ident, []).append((f, call, chain))
        return self._calls.get(name, [])

    def _index(self, f: _File, is_pkg: bool, docs: bool = False) -> None:
        """Index F; DOCS: a file's docstring examples (what they define is not the repo's)."""
        self.files.append(f)
        for node in f.tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and not docs:
                f.defs.add(node.name)
                self.definers.setdefault(node.name, set()).add(f.module)
                if isinstance(node, ast.ClassDef) and any(
                    "dataclass" in ast.unparse(d) for d in node.decorator_list
                ):
                    self.dataclasses[(f.module, node.name)] = _dataclass_defaults(node)
            elif isinstance(node, ast.ImportFrom):
                src = _resolve_relative(f.module, is_pkg, node.level, node.module) if node.level else node.module
                for a in node.names:
                    f.imported[a.asname or a.name] = src or ""
        self._scan_scopes(f, f.tree, id(f.tree))

    def _scan_scopes(self, f: _File, node: ast.AST, scope: int) -> None:
        for child in ast.iter_child_nodes(node):
            inner = id(child) if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
            if inner != scope:  # a parameter's default is its value in the calls the function makes
                for arg, default in _parameter_defaults(child.args):
                    f.scopes.setdefault(inner, {}).setdefault(arg, []).append((child.lineno, default))
            if isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
                f.scopes.setdefault(scope, {}).setdefault(child.targets[0].id, []).append((child.lineno, child.value))
                if isinstance(child.value, ast.Call) and isinstance(child.value.func, ast.Attribute) \
                        and child.value.func.attr in ("parse_args", "parse_known_args"):
                    f.args_vars.add(child.targets[0].id)
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "add_argument":
                _record_argument(f, child)
            self._scan_scopes(f, child, inner)


def _parameter_defaults(args: ast.arguments) -> list[tuple[str, ast.expr]]:
    """(name, default) of a function's parameters that have one."""
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    return pairs + [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]


def _dataclass_defaults(node: ast.ClassDef) -> dict[str, ast.expr] | None:
    """field -> default expression, or None when some field has no literal default."""
    out = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if "ClassVar" in ast.unparse(stmt.annotation):
                continue
            value = stmt.value
            if isinstance(value, ast.Call) and ast.unparse(value.func).endswith("field"):
                value = next((k.value for k in value.keywords if k.arg == "default"), None)
            if value is None or not _is_literal(value):
                return None
            out[stmt.target.id] = value
    return out


def _record_argument(f: _File, call: ast.Call) -> None:
    flags = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    kw = {k.arg: k.value for k in call.keywords}
    if "default" not in kw or not _is_literal(kw["default"]):
        return
    dest = kw.get("dest")
    if isinstance(dest, ast.Constant):
        name = dest.value
    else:
        longs = [x for x in flags if x.startswith("--")] or flags
        if not longs:
            return
        name = longs[0].lstrip("-").replace("-", "_")
    f.argparse_defaults[name] = kw["default"]


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


class _Renderer:
    """Turn one call's argument into text valid in the unit's module, or None when it is not static."""

    def __init__(self, index: RepoIndex, f: _File, unit_file: _File | None, scope_chain: list[int], line: int):
        self.index, self.f, self.unit_file = index, f, unit_file
        self.scope_chain, self.line, self.depth = scope_chain, line, 0

    def render(self, node: ast.expr) -> str | None:
        if _is_literal(node):
            return ast.unparse(node)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in self.f.args_vars and node.attr in self.f.argparse_defaults:
                return ast.unparse(self.f.argparse_defaults[node.attr])
            return self._repo_name(node.attr, hint=self.f.imported.get(node.value.id))
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [self.render(e) for e in node.elts]
            if None in items:
                return None
            text = ", ".join(items)
            return f"({text}{',' if len(items) == 1 else ''})" if isinstance(node, ast.Tuple) else f"[{text}]"
        return None

    def _name(self, ident: str) -> str | None:
        for scope in self.scope_chain:
            assigns = [v for ln, v in self.f.scopes.get(scope, {}).get(ident, []) if ln < self.line]
            if assigns and self.depth < 4:
                self.depth += 1
                try:
                    return self.render(assigns[-1])
                finally:
                    self.depth -= 1
        return self._repo_name(ident, hint=self.f.imported.get(ident))

    def _repo_name(self, ident: str, hint: str | None = None) -> str | None:
        """A module-level name of the repo, as the unit's module can reach it."""
        definers = self.index.definers.get(ident, set())
        if not definers:
            return None
        home = hint if hint in definers else (self.f.module if self.f.module in definers else None)
        if home is None:
            if len(definers) > 1:
                return None
            home = next(iter(definers))
        u = self.unit_file
        if u is not None and (u.module == home and ident in u.defs or u.imported.get(ident) == home):
            return ident
        return f"{home}.{ident}"

    def _call(self, node: ast.Call) -> str | None:
        func = node.func
        ident = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        hint = self.f.imported.get(func.id if isinstance(func, ast.Name) else getattr(func.value, "id", ""), None) \
            if ident else None
        callee = self._repo_name(ident, hint) if ident else None
        positional = list(node.args)
        if positional and isinstance(positional[-1], ast.Starred):
            positional.pop()  # `*args` passed on last: the caller's own callers give none here
        if callee is None or any(isinstance(a, ast.Starred) for a in positional):
            return None
        args = [self.render(a) for a in positional]
        # `**kwargs` passed on: the caller's callers may add keywords; this call alone is the repo's default
        kwargs = {k.arg: self.render(k.value) for k in node.keywords if k.arg is not None}
        if None in args or None in kwargs.values():
            return None
        module = callee.rsplit(".", 1)[0] if "." in callee else self._home(ident)
        defaults = self.index.dataclasses.get((module, ident))
        if defaults and not args:  # spell out an all-default dataclass config, keeping explicit fields
            kwargs = {**{k: ast.unparse(v) for k, v in defaults.items()}, **kwargs}
        parts = args + [f"{k}={v}" for k, v in kwargs.items()]
        return f"{callee}({', '.join(parts)})"

    def _home(self, ident: str) -> str | None:
        definers = self.index.definers.get(ident, set())
        if self.unit_file is not None and self.unit_file.module in definers:
            return self.unit_file.module
        return self.unit_file.imported.get(ident) if self.unit_file else None


def _calls_with_scopes(tree: ast.Module):
    """(call node, enclosing scope ids innermost first) for every call in the file."""
    stack = [(tree, [id(tree)])]
    while stack:
        node, chain = stack.pop()
        for child in ast.iter_child_nodes(node):
            sub = [id(child), *chain] if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else chain
            if isinstance(child, ast.Call):
                yield child, chain
            stack.append((child, sub))


def repo_specs(index: RepoIndex, unit: dict) -> list[dict]:
    name, module = unit["name"], unit["module"]
    unit_file = next((f for f in index.files if f.module == module), None)
    ambiguous = len(index.definers.get(name, set())) > 1
    found: list[dict] = []
    for f, call, chain in index.calls_named(name):
        if ambiguous and f.module != module and f.imported.get(name) != module:
            continue
        text = _Renderer(index, f, unit_file, chain, call.lineno)._call(call)
        if text is None:
            continue
        if "." in text.split("(", 1)[0] and text.split("(", 1)[0].rsplit(".", 1)[0] == module:
            text = name + text[len(module) + 1 + len(name):]
        spec = {"source": "repo", "init": text, "inputs": None, "where": f"{f.module}:{call.lineno}"}
        renderer = _Renderer(index, f, unit_file, chain, call.lineno)

        def render(node, line, renderer=renderer):
            renderer.line = line
            return renderer.render(node)

        for sizes in call_inputs(index, f, call, chain, render):  # what the repo feeds what it built
            found.append({**spec, "inputs": [sizes]})
        if all(s["init"] != text or s["inputs"] for s in found):
            found.append(spec)
    # Smaller constructions first: cheaper on MindSpore CPU and as telling; the repo's inputs before guesses.
    return sorted(found, key=lambda s: (_magnitude(s["init"]), len(s["init"])))


def _magnitude(init: str) -> float:
    """The sum of the numbers INIT spells out (`get_net(blocks=85)` over `get_net(blocks=39)`): a model's
    widths, depths and counts, what its cost on MindSpore CPU grows with. Digits inside strings (a model
    name) do not count."""
    try:
        tree = ast.parse(init, mode="eval")
    except SyntaxError:
        return 0.0
    return sum(abs(n.value) for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool))


# Top-level functions a file defines to run its model (benchmark-style files): the forward's inputs and,
# optionally, the constructor's arguments. verify/examples.py runs them, scaled, on the torch side.
EXAMPLE_INPUTS = ("get_inputs", "get_example_inputs", "example_inputs", "get_sample_inputs", "sample_inputs",
                  "make_inputs", "get_dummy_inputs", "dummy_inputs", "get_test_inputs")
EXAMPLE_INIT = ("get_init_inputs", "get_init_args", "get_init_kwargs", "init_inputs", "get_init_params")


def _callable_bare(args: ast.arguments) -> bool:
    """Callable with no arguments: every parameter has a default."""
    return len(args.posonlyargs) + len(args.args) <= len(args.defaults) and None not in args.kw_defaults


def example_spec(index: RepoIndex, unit: dict) -> dict | None:
    """The spec of a module unit whose file carries example-input factories (`get_inputs()`)."""
    if unit.get("kind", "module") != "module":
        return None
    f = next((f for f in index.files if f.module == unit["module"]), None)
    if f is None:
        return None
    no_args = {n.name: n.lineno for n in f.tree.body if isinstance(n, ast.FunctionDef) and _callable_bare(n.args)}
    inputs = next((n for n in EXAMPLE_INPUTS if n in no_args), None)
    if inputs is None or unit["name"] != _described_class(f.tree):
        return None
    init = next((n for n in EXAMPLE_INIT if n in no_args), None)
    return {"source": "file", "init": None, "inputs": None, "example": {"inputs": inputs, "init": init},
            "where": f"{f.module}:{no_args[inputs]}"}


def _described_class(tree: ast.Module) -> str | None:
    """The class a file's example factories are for: `Model` (the benchmarks' convention), else the one
    class deriving from something that the file's other classes do not build, the last of several (a block
    they stack is not fed the model's arguments)."""
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.bases]
    names = {c.name for c in classes}
    if "Model" in names:
        return "Model"
    built = {n.func.id for c in classes for n in ast.walk(c)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names - {c.name}}
    outer = [c.name for c in classes if c.name not in built]
    return outer[-1] if outer else None


def find_repo_specs(src_root: Path, units: list[dict]) -> dict[str, list[dict]]:
    """unit key ("pkg.models.Fusion") -> specs, user's first, then the repo's own instantiations."""
    src_root = Path(src_root)
    users = user_specs(src_root)
    index = RepoIndex(src_root)
    out: dict[str, list[dict]] = {}
    for unit in units:
        key = unit_key(unit)
        specs = list(users.get(key, []))
        example = example_spec(index, unit)
        if example is not None:  # the file's own example inputs, before calls found elsewhere in the repo
            specs.append(example)
        specs += repo_specs(index, unit)  # a function's calls in the repo: a builder's own configurations
        out[key] = specs[:MAX_SPECS]
    return out
