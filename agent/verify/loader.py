"""Import a repository's modules without running their script code, one side at a time.

The torch SRC tree and the MindSpore OUT tree hold the same module names, so each side gets its own
`RepoImporter`; `active()` swaps that side's modules into `sys.modules` so both can live in one
worker process. Every module's top level is rewritten before it runs: imports, definitions and
assignments are kept, each guarded so one failure (a missing torchvision, `parser.parse_args()`)
is recorded instead of aborting the file; script code (`if __name__ == "__main__":`, bare calls,
top-level loops and `with` blocks) is dropped.
"""
from __future__ import annotations

import ast
import functools
import importlib.abc
import importlib.util
import sys
import types
from contextlib import contextmanager
from pathlib import Path

from agent.scan.names import parse_python
from agent.verify import absent

MISSING = "__msagent_missing__"  # list of {"module", "names", "line"} for imports that failed
ERRORS = "__msagent_errors__"  # list of {"line", "error"} for other guarded statements that raised
BIND = "__msagent_bind_absent__"  # absent.bind, for the names of a module installed nowhere here

FORBIDDEN_ON_MS = ("torch",)


class ForbiddenImport(ImportError):
    """A translated (MindSpore side) module imports torch; it is never executed."""


def _bound_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [a.asname or a.name.split(".")[0] for a in node.names]


# Bare calls kept at top level: they configure objects later statements read (argparse defaults,
# registries, config dicts). Anything else (main(), trainer.fit(), downloads) is script code.
_CONFIG_METHODS = {
    "add_argument", "add_argument_group", "add_mutually_exclusive_group", "set_defaults",
    "register", "register_module", "update", "setdefault", "append", "extend",
}


def _is_config_call(node: ast.stmt) -> bool:
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    return isinstance(func, ast.Attribute) and func.attr in _CONFIG_METHODS


def _guard(stmt: ast.stmt, record: ast.expr) -> ast.Try:
    """try: <stmt> except: <record>  -- keeps module scope, unlike a function. SystemExit is caught
    too: argparse exits on flags it does not know."""
    caught = ast.Tuple([ast.Name("Exception", ast.Load()), ast.Name("SystemExit", ast.Load())], ast.Load())
    handler = ast.ExceptHandler(type=caught, name="__msagent_exc", body=[ast.Expr(record)])
    return _located(ast.Try(body=[stmt], handlers=[handler], orelse=[], finalbody=[]), stmt)


def _located(new: ast.AST, like: ast.stmt) -> ast.AST:
    """NEW's own nodes placed at LIKE's position; the original nodes inside it keep theirs. (What
    ast.fix_missing_locations does, without walking every original subtree: a third of an import.)"""
    stack = [new]
    while stack:
        node = stack.pop()
        if "lineno" in node._attributes:
            if getattr(node, "lineno", None) is not None:
                continue
            node.lineno, node.col_offset = like.lineno, like.col_offset
            node.end_lineno, node.end_col_offset = like.end_lineno, like.end_col_offset
        stack.extend(ast.iter_child_nodes(node))
    return new


def _record_call(target: str, payload: ast.expr) -> ast.expr:
    return ast.Call(
        func=ast.Attribute(ast.Name(target, ast.Load()), "append", ast.Load()), args=[payload], keywords=[]
    )


def _import_guard(node: ast.Import | ast.ImportFrom) -> ast.Try:
    modname = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
    if isinstance(node, ast.ImportFrom) and node.level:
        modname = "." * node.level + (node.module or "")
    exc = ast.Name("__msagent_exc", ast.Load())
    missing_name = ast.BoolOp(ast.Or(), [ast.Call(ast.Name("getattr", ast.Load()), [exc, ast.Constant("name"), ast.Constant(None)], []), ast.Constant(modname)])
    payload = ast.Dict(
        keys=[ast.Constant("module"), ast.Constant("names"), ast.Constant("line"), ast.Constant("error")],
        values=[
            missing_name,
            ast.List([ast.Constant(n) for n in _bound_names(node)], ast.Load()),
            ast.Constant(node.lineno),
            ast.Call(ast.Name("repr", ast.Load()), [exc], []),
        ],
    )
    guard = _guard(node, _record_call(MISSING, payload))
    bound = _absent_bindings(node)
    if bound:  # names of a module installed nowhere here become stand-ins that raise where used
        bind = ast.Call(ast.Name(BIND, ast.Load()), [ast.Call(ast.Name("globals", ast.Load()), [], []), exc,
                                                     ast.Constant(bound)], [])
        guard.handlers[0].body.append(_located(ast.Expr(bind), node))
    return guard


def _absent_bindings(node: ast.Import | ast.ImportFrom) -> tuple:
    """(local name, module, attribute or None) per name an absolute import binds (see absent.bind)."""
    if isinstance(node, ast.Import):
        return tuple((a.asname, a.name, None) if a.asname else (a.name.split(".")[0], a.name.split(".")[0], None)
                     for a in node.names)
    if node.level or not node.module:
        return ()
    return tuple((a.asname or a.name, node.module, a.name) for a in node.names if a.name != "*")


def _error_guard(node: ast.stmt) -> ast.Try:
    exc = ast.Name("__msagent_exc", ast.Load())
    payload = ast.Dict(
        keys=[ast.Constant("line"), ast.Constant("error")],
        values=[ast.Constant(node.lineno), ast.Call(ast.Name("repr", ast.Load()), [exc], [])],
    )
    return _guard(node, _record_call(ERRORS, payload))


def _is_main_guard(node: ast.If) -> bool:
    t = node.test
    return (
        isinstance(t, ast.Compare)
        and isinstance(t.left, ast.Name)
        and t.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators)
    )


_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _catches_import_errors(node: ast.Try) -> bool:
    """`try: import apex ... except ImportError: apex = None`: the code's own fallback for a missing module."""
    for h in node.handlers:
        types_ = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        if h.type is None or any(isinstance(t, ast.Name) and t.id in _IMPORT_ERRORS for t in types_):
            return True
    return False


def _strip_block(body: list[ast.stmt], top: bool, guard_imports: bool = True) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for i, node in enumerate(body):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            out.append(node)  # must stay first and unguarded
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            # inside a try that handles import errors, a failing import reaches the code's own fallback
            out.append(_import_guard(node) if guard_imports else node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(_error_guard(node))  # a base class from a missing package fails here
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or _is_config_call(node):
            out.append(_error_guard(node))
        elif isinstance(node, ast.If):
            if _is_main_guard(node):
                continue
            node.body = _strip_block(node.body, top, guard_imports) or [_located(ast.Pass(), node)]
            node.orelse = _strip_block(node.orelse, top, guard_imports)
            out.append(_error_guard(node))
        elif isinstance(node, ast.Try):
            inner = guard_imports and not _catches_import_errors(node)
            node.body = _strip_block(node.body, top, inner) or [_located(ast.Pass(), node)]
            for h in node.handlers:
                h.body = _strip_block(h.body, top, guard_imports) or [_located(ast.Pass(), node)]
            node.orelse = _strip_block(node.orelse, top, guard_imports)
            node.finalbody = _strip_block(node.finalbody, top, guard_imports)
            out.append(_error_guard(node))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.append(node)  # docstrings
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Pass)):
            out.append(node)
        # everything else is script code: calls, loops, with-blocks, asserts, raises, del, match
    return out


def strip_script_code(source: str, filename: str) -> ast.Module:
    tree = parse_python(source, filename)
    tree.body = _strip_block(tree.body, top=True)
    return tree


def torch_imports(source: str, filename: str = "<src>") -> list[dict]:
    """Every import of torch anywhere in the file (function-local ones too), with its line."""
    return [dict(h) for h in _torch_imports(source, filename)]


@functools.lru_cache(maxsize=256)  # the judge asks once per unit, mostly about the same file
def _torch_imports(source: str, filename: str) -> tuple:
    hits = []
    for node in ast.walk(parse_python(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if fname in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for n in names:
            if n.split(".")[0] in FORBIDDEN_ON_MS:
                hits.append({"file": filename, "line": node.lineno, "module": n})
    return tuple(hits)


def torch_import_in(root, rel: str | None) -> str | None:
    """'MindSpore side imports torch at pkg/m.py:3' when the translated file ROOT/REL imports torch anywhere."""
    path = Path(root, rel) if rel else None
    if path is None or not path.is_file():
        return None
    try:
        hits = torch_imports(path.read_text(encoding="utf-8", errors="replace"), rel)
    except (SyntaxError, ValueError, RecursionError):
        return None  # the candidate's import will say what is wrong with the file
    return f"MindSpore side imports {hits[0]['module']} at {hits[0]['file']}:{hits[0]['line']}" if hits else None


@functools.lru_cache(maxsize=16)
def absent_modules(root: str, torch_family: bool = False) -> tuple[str, ...]:
    """Top-level modules the tree ROOT imports (at module level, absolutely) that are neither in the tree
    nor installed here: both sides get stand-ins that raise only where they are used (`import requests`
    for a download helper does not stop a layer in the same file from being checked). torch's own family
    (torchvision, ...) counts only with TORCH_FAMILY, for the torch original: the translation must not
    import it at all."""
    root_path = Path(root)
    names: set[str] = set()
    for path in root_path.rglob("*.py"):
        try:
            tree = parse_python(path.read_text(encoding="utf-8", errors="replace"), str(path))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    local = set()
    for base in (root_path, root_path / "src"):
        if base.is_dir():
            local |= {p.stem for p in base.iterdir() if p.suffix == ".py"} | {
                p.name for p in base.iterdir() if _holds_python(p)}
    absent = []
    for name in sorted(n for n in names - local if torch_family or not n.startswith(("torch", "functorch"))):
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        if found is None:
            absent.append(name)
    return tuple(absent)


def absent_notes(absent, stand_ins, references, kb) -> list[str]:
    """The notes of a unit whose file imports what is not installed here: the ABSENT modules the MindSpore
    side had STAND_INS for (only names the judge gave count), the names the torch side bound to the KB's
    torch versions (REFERENCES, only names of the KB count)."""
    notes = []
    if stand_ins := [n for n in absent if n in (stand_ins or [])]:
        notes.append(f"not installed here, on either side: {', '.join(stand_ins)} (both sides had stand-ins that "
                     "raise where used; one applied as a decorator left what it decorates as written)")
    if used := sorted(n for n in references or [] if kb is not None and n in kb.references()):
        libraries = sorted({n.split(".")[0] for n in used})
        notes.append(f"{', '.join(libraries)} cannot be imported here: the torch original ran with the KB's torch "
                     f"versions of {', '.join(used)} in its place (mapping_kb, `reference`)")
    return notes


class _Loader(importlib.abc.Loader):
    def __init__(self, importer: "RepoImporter", path: Path):
        self.importer = importer
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        imp = self.importer
        source = self.path.read_text(encoding="utf-8")
        rel = self.path.relative_to(imp.root).as_posix() if self.path.is_relative_to(imp.root) else str(self.path)
        if imp.side == "ms":
            hits = torch_imports(source, rel)
            if hits:
                imp.violations.extend(hits)
                raise ForbiddenImport(f"{rel}:{hits[0]['line']} imports {hits[0]['module']}")
        code = compile(strip_script_code(source, str(self.path)), str(self.path), "exec")
        module.__dict__[MISSING] = []
        module.__dict__[ERRORS] = []
        module.__dict__[BIND] = imp.bind_absent
        imp.modules[module.__name__] = module
        saved_argv = sys.argv
        sys.argv = [str(self.path)]  # argparse at module level then sees no flags and uses defaults
        try:
            exec(code, module.__dict__)
        finally:
            sys.argv = saved_argv


@functools.lru_cache(maxsize=4096)  # asked at every import of a repo name; a data folder may be large
def _holds_python(d: Path) -> bool:
    """D is a folder with a Python file in it or in a folder below it."""
    return d.is_dir() and next(d.rglob("*.py"), None) is not None


class RepoImporter(importlib.abc.MetaPathFinder):
    """Finds and loads the modules of one repository tree (one side: 'torch' or 'ms')."""

    def __init__(self, root: str | Path, side: str):
        self.root = Path(root).resolve()
        self.side = side
        self.modules: dict[str, object] = {}
        self.violations: list[dict] = []
        self._bases = [self.root] + ([self.root / "src"] if (self.root / "src").is_dir() else [])
        self._fallback: list[Path] = []  # directories of loaded modules, for sibling `import utils` scripts
        self._active = False
        self._mark = types.ModuleType(f"__msagent_swap_mark_{id(self):x}__")
        self._absent: tuple[str, ...] | None = None
        self.references = absent.References()  # torch side: the KB's versions of absent libraries' names

    def bind_absent(self, namespace: dict, exc: BaseException, bound: tuple) -> None:
        """A guarded import failed: stand-ins for its names when its module is installed nowhere here (on
        the torch side, the KB's torch version of a name where it has one)."""
        if self._absent is None:
            self._absent = absent_modules(str(self.root), torch_family=self.side == "torch")
        if absent.bind(namespace, self._absent, exc, bound, self.references if self.side == "torch" else None):
            namespace[MISSING].pop()  # recorded just before (see _import_guard): the KB's versions stand in

    # -- finding --------------------------------------------------------------------------------
    def _locate(self, fullname: str) -> tuple[Path, bool] | None:
        parts = fullname.split(".")
        for base in self._bases + (self._fallback if len(parts) == 1 else []):
            d = base.joinpath(*parts)
            if (d / "__init__.py").is_file():
                return d / "__init__.py", True
            f = base.joinpath(*parts[:-1], parts[-1] + ".py")
            if f.is_file():
                return f, False
            if _holds_python(d):
                return d, True  # namespace package (its modules may sit in a subfolder: examples/gan/model.py)
        return None

    def owns(self, fullname: str) -> bool:
        return fullname in self.modules or self._locate(fullname.split(".")[0]) is not None

    def find_spec(self, fullname, path=None, target=None):
        if not self._active:
            return None
        found = self._locate(fullname)
        if found is None:
            return None
        file, is_pkg = found
        if file.is_dir():
            spec = importlib.util.spec_from_loader(fullname, None, is_package=True)
            spec.submodule_search_locations = [str(file)]
            return spec
        if not is_pkg and file.parent not in self._bases and file.parent not in self._fallback:
            self._fallback.append(file.parent)
        return importlib.util.spec_from_file_location(
            fullname, file, loader=_Loader(self, file),
            submodule_search_locations=[str(file.parent)] if is_pkg else None,
        )

    # -- swapping -------------------------------------------------------------------------------
    @contextmanager
    def active(self):
        """Put this side's modules in sys.modules (and the finder first on the meta path) for the block."""
        if self._active:
            yield self
            return
        # A swap runs several times per trial, and sys.modules holds thousands of names: look names up
        # instead of scanning. A submodule is never imported without its package, so a repo name is in
        # sys.modules only if one of the repo's top-level names is.
        tops = self._tops()
        displaced = {}
        if any(t in sys.modules for t in tops):
            displaced = {n: m for n, m in sys.modules.items() if n.partition(".")[0] in tops}
            for n in displaced:
                del sys.modules[n]
        sys.modules.update(self.modules)
        # sys.modules keeps insertion order: what the block imports lands after this mark
        sys.modules.pop(self._mark.__name__, None)
        sys.modules[self._mark.__name__] = self._mark
        sys.meta_path.insert(0, self)
        self._active = True
        try:
            yield self
        finally:
            self._active = False
            sys.meta_path.remove(self)
            tops = self._tops()  # again: the block may have loaded a sibling script module
            added = []
            for n in reversed(sys.modules):
                if n == self._mark.__name__:
                    break
                added.append(n)
            else:  # the mark was removed by the block: fall back to every name
                added = list(sys.modules)
            sys.modules.pop(self._mark.__name__, None)
            added = [n for n in added if n.partition(".")[0] in tops]
            for n in list(self.modules) + added:
                mod = sys.modules.pop(n, None)
                if mod is not None and getattr(mod, "__spec__", None) is not None and n not in self.modules:
                    self.modules[n] = mod  # namespace packages loaded without our loader
            sys.modules.update(displaced)

    def _tops(self) -> set[str]:
        if not hasattr(self, "_top_cache"):
            tops = set()
            for base in self._bases:
                for p in base.iterdir():
                    if p.suffix == ".py":
                        tops.add(p.stem)
                    elif p.name.isidentifier() and _holds_python(p):
                        tops.add(p.name)
            self._top_cache = tops
        return self._top_cache | {n.partition(".")[0] for n in self.modules}

    def statement_errors(self) -> list[dict]:
        """{file, line, error} of every guarded top-level statement that raised in the modules loaded so far,
        imports of modules found nowhere included."""
        out = []
        for mod in list(self.modules.values()):
            path = Path(getattr(mod, "__file__", None) or "")
            if path.is_relative_to(self.root):
                rel = path.relative_to(self.root).as_posix()
                out += [{"file": rel, **e} for e in mod.__dict__.get(ERRORS, [])]
                out += [{"file": rel, "line": m["line"], "error": f"ModuleNotFoundError('No module named {m['module']!r}')"}
                        for m in mod.__dict__.get(MISSING, []) if isinstance(m, dict) and "line" in m]
        return out

    def load(self, module: str):
        with self.active():
            if module in self.modules:
                return self.modules[module]
            return importlib.import_module(module)


class UnitNotFound(LookupError):
    pass


def load_unit(importer: RepoImporter, module: str, name: str):
    """The class or function `name` (dotted for nested classes) from `module` of this side."""
    target = importer.load(module)
    for part in name.split("."):
        if not hasattr(target, part):
            raise UnitNotFound(f"{module} has no {name}" + _why_missing(importer.modules.get(module)))
        target = getattr(target, part)
    return target


def _why_missing(mod) -> str:
    if mod is None:
        return ""
    missing = mod.__dict__.get(MISSING, [])
    errors = mod.__dict__.get(ERRORS, [])
    bits = [f"missing module {m['module']!r} (line {m['line']})" for m in missing]
    bits += [f"line {e['line']}: {e['error']}" for e in errors]
    return (": " + "; ".join(bits)) if bits else ""
