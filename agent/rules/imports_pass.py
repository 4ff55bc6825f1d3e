"""Replace torch imports with the MindSpore imports the rewritten file needs.

Every torch import goes. Names still referenced by unconverted (marked) code are listed in a marker;
MindSpore aliases never reuse those names, so that code fails loudly with a NameError if it runs,
while the units that do not reach it can still be verified.
"""
from __future__ import annotations

import re

import libcst as cst
from libcst.helpers import get_full_name_for_node

from agent.scan.names import is_torch as _is_torch
from agent.rules.walk import Transformer, visit

MARKER = "# msagent:"

# Packages that import torch themselves: translated code cannot import them (MindSpore runs without
# torch). Their names become stand-ins, so the file imports and a use of one raises, saying what it was.
TORCH_ONLY = ("torchvision", "torchaudio", "torchtext", "functorch", "torchgen")
TORCH_ONLY_STAND_IN = '''class _MsTorchOnly:
    """A name from a package that needs torch (torchvision, torchaudio, ...), which translated code cannot
    import, or a torch base class with no MindSpore counterpart: the file still imports, and using the
    name raises, saying what it stood for."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _MsTorchOnly(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise ImportError(f"{self._name} needs torch and has no MindSpore translation here: rewrite this use")

    def __mro_entries__(self, bases):
        # a class deriving from one (`class MaybeToTensor(transforms.ToTensor)`) is defined; building it raises
        name = self._name

        class _MsTorchOnlyBase:
            def __init__(self, *args, **kwargs):
                raise ImportError(f"{name} needs torch and has no MindSpore translation here: rewrite this use")

        return (_MsTorchOnlyBase,)
'''


_IMPORTS_TORCH_ONLY = re.compile(rf"^\s*(?:import|from)\s+(?:{'|'.join(TORCH_ONLY)})\b", re.M)


def imports_torch_only(source: str) -> bool:
    """Whether SOURCE may import a torch-only package (a cheap superset, for files with no torch import)."""
    return _IMPORTS_TORCH_ONLY.search(source) is not None


def _torch_only(stmt: cst.BaseSmallStatement) -> list[tuple[str, str]]:
    """(local name, dotted name) for each name a top-level import of a torch-only package binds."""
    if isinstance(stmt, cst.Import):
        out = []
        for alias in stmt.names:
            full = get_full_name_for_node(alias.name)
            if full.split(".")[0] in TORCH_ONLY:
                out.append((alias.asname.name.value, full) if alias.asname else (full.split(".")[0], full.split(".")[0]))
        return out
    if (isinstance(stmt, cst.ImportFrom) and not stmt.relative and stmt.module is not None
            and not isinstance(stmt.names, cst.ImportStar)):
        full = get_full_name_for_node(stmt.module)
        if full.split(".")[0] in TORCH_ONLY:
            return [(a.asname.name.value if a.asname else get_full_name_for_node(a.name),
                     f"{full}.{get_full_name_for_node(a.name)}") for a in stmt.names]
    return []


def _without_torch_only(stmt: cst.BaseSmallStatement) -> cst.BaseSmallStatement | None:
    """The import with its torch-only names dropped (`import os, torchvision` -> `import os`), or None."""
    if isinstance(stmt, cst.Import):
        names = [a for a in stmt.names if get_full_name_for_node(a.name).split(".")[0] not in TORCH_ONLY]
        if names:
            return stmt.with_changes(names=[*names[:-1], names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)])
    return None


def _catches_import_error(handler: cst.ExceptHandler) -> bool:
    kinds = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type] if handler.type else []
    names = {get_full_name_for_node(k.value if isinstance(k, cst.Element) else k) for k in kinds}
    return handler.type is None or bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _only_raises(handler: cst.ExceptHandler) -> bool:
    """`except ImportError: raise ImportWarning("install torch")`: a guard that torch is installed, no
    stand-in. The translation imports MindSpore at the top instead, so its try body is left empty."""
    return all(isinstance(s, cst.SimpleStatementLine) and all(isinstance(x, (cst.Raise, cst.Expr)) for x in s.body)
               for s in handler.body.body)


def _bound_names(stmt: cst.BaseSmallStatement) -> list[str]:
    """Local names a torch import statement binds (empty when it is not a torch import)."""
    if isinstance(stmt, cst.Import):
        names = []
        for alias in stmt.names:
            full = get_full_name_for_node(alias.name)
            if _is_torch(full):
                names.append(alias.asname.name.value if alias.asname else full.split(".")[0])
        return names
    if isinstance(stmt, cst.ImportFrom) and stmt.relative == [] or (
            isinstance(stmt, cst.ImportFrom) and not stmt.relative):
        full = get_full_name_for_node(stmt.module) if stmt.module else None
        if _is_torch(full) and not isinstance(stmt.names, cst.ImportStar):
            return [a.asname.name.value if a.asname else get_full_name_for_node(a.name) for a in stmt.names]
        if _is_torch(full):
            return ["*"]
    return []


class _ImportRewriter(Transformer):
    def __init__(self, plan_statements: list[cst.SimpleStatementLine], kept: set[str], nested: bool = True):
        self.plan = plan_statements
        self.nested = nested  # torch imported below the top level (in a function, a try, an if)
        self.kept = kept
        self.inserted = False
        self.depth = 0
        self.markers: list[tuple[int, str]] = []
        self.stand_ins: dict[str, str] = {}  # local name -> the torch-only name it stands for

    def on_visit(self, node: cst.CSTNode) -> bool:
        # imports are statements: expressions (most of the tree) need no visit
        if isinstance(node, (cst.BaseExpression, cst.BaseSmallStatement)):
            return False
        if isinstance(node, cst.IndentedBlock) and not self.nested:
            self.depth += 1  # left unvisited; leave_IndentedBlock still runs
            return False
        return super().on_visit(node)

    def visit_IndentedBlock(self, node) -> None:
        self.depth += 1

    def leave_IndentedBlock(self, original, updated):
        self.depth -= 1
        if not updated.body:
            return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated

    def leave_Try(self, original, updated):
        """`try: from torch import _assert` / `except ImportError: def _assert(...)`: the code's own stand-in
        for a torch without the name. With the torch import gone the try body raises ImportError, so the
        stand-in is what runs (it was left empty, and the name undefined). A handler that only raises is
        a guard that torch is installed: nothing stands in, the body stays empty."""
        only_imports = all(isinstance(s, cst.SimpleStatementLine) and s.body and all(_bound_names(x) for x in s.body)
                           for s in original.body.body)
        left = updated.body.body
        emptied = len(left) == 1 and isinstance(left[0], cst.SimpleStatementLine) and \
            [type(x) for x in left[0].body] == [cst.Pass]
        if only_imports and emptied and any(_catches_import_error(h) and not _only_raises(h) for h in updated.handlers):
            names = ", ".join(n for s in original.body.body for x in s.body for n in _bound_names(x))
            stmt = cst.parse_statement(f'raise ImportError("torch is not imported: the stand-in below for {names}")')
            return updated.with_changes(body=updated.body.with_changes(body=[stmt]))
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        if self.depth == 0 and any(_torch_only(s) for s in updated.body):
            body = []
            for s in updated.body:
                bound = _torch_only(s)
                self.stand_ins.update(bound)
                kept = _without_torch_only(s) if bound else s
                if kept is not None:
                    body.append(kept)
            if not body:
                return cst.RemoveFromParent()
            body[-1] = body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            updated = updated.with_changes(body=body)
        torch_stmts = [s for s in updated.body if _bound_names(s)]
        if not torch_stmts:
            return updated
        rest = [s for s in updated.body if s not in torch_stmts]
        out: list[cst.SimpleStatementLine] = []
        if not self.inserted and self.depth == 0:
            self.inserted = True
            plan = list(self.plan)
            if plan:
                plan[0] = plan[0].with_changes(leading_lines=[*updated.leading_lines, *self.header_note()])
            out.extend(plan)
            updated = updated.with_changes(leading_lines=[])
        if rest:
            out.append(updated.with_changes(body=rest))
        if not out:
            return cst.RemoveFromParent()
        return cst.FlattenSentinel(out)

    def header_note(self) -> list[cst.EmptyLine]:
        """Where torch names outlive their import: they fail loudly (NameError) if that code runs."""
        if not self.kept:
            return []
        names = ", ".join(sorted(self.kept))
        text = f"{MARKER} torch is not imported; {names} still referenced by unconverted code (marked below)"
        return [cst.EmptyLine(indent=True, comment=cst.Comment(text))]


def finish_imports(module: cst.Module, plan, kept: set[str], helpers: list | None = None, *,
                   nested: bool = True) -> tuple[cst.Module, list[tuple[int, str]]]:
    """Swap the imports; `helpers` (adapter functions) go after the file's last top-level import.
    `nested=False` says every torch import is a top-level statement: blocks are not entered."""
    stmts = _not_yet_imported(module, plan.statements())
    rw = _ImportRewriter(stmts, kept, nested)
    new = visit(module, rw)
    if not rw.inserted and stmts:
        new = _insert_at_top(new, stmts)
    if kept and not (rw.inserted and stmts):
        new = new.with_changes(header=[*new.header, *rw.header_note()])
    markers = [(1, f"torch names still referenced by unconverted code: {', '.join(sorted(kept))}")] if kept else []
    stand_ins = []
    if rw.stand_ins and not any(isinstance(h, cst.ClassDef) and h.name.value == "_MsTorchOnly" for h in helpers or []):
        helpers = [*(helpers or []), cst.parse_statement(TORCH_ONLY_STAND_IN)]
        for local, full in rw.stand_ins.items():
            note = [cst.EmptyLine(comment=cst.Comment(f"{MARKER} {full} needs torch: {local} stands in for it and "
                                                      "raises when used"))]
            stand_ins.append(cst.parse_statement(f"{local} = _MsTorchOnly({full!r})\n").with_changes(leading_lines=note))
            markers.append((1, f"{full} needs torch (no MindSpore translation): {local} raises when used"))
    if helpers:
        new = _insert_after_imports(new, helpers, stand_ins)
    return new, markers


def _not_yet_imported(module: cst.Module, stmts: list[cst.SimpleStatementLine]) -> list[cst.SimpleStatementLine]:
    """The plan's imports the file does not already make at top level (`import math` for `math.pi`)."""
    have = {module.code_for_node(s).strip() for s in module.body if isinstance(s, cst.SimpleStatementLine)
            and all(isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body)}
    return [s for s in stmts if module.code_for_node(s).strip() not in have]


def _insert_at_top(module: cst.Module, stmts: list[cst.SimpleStatementLine]) -> cst.Module:
    body = list(module.body)
    i = 0
    # after a docstring and __future__ imports
    while i < len(body) and isinstance(body[i], cst.SimpleStatementLine) and (
            (isinstance(body[i].body[0], cst.Expr) and isinstance(body[i].body[0].value, cst.SimpleString))
            or (isinstance(body[i].body[0], cst.ImportFrom) and get_full_name_for_node(body[i].body[0].module or cst.Name("x")) == "__future__")):
        i += 1
    return module.with_changes(body=[*body[:i], *stmts, *body[i:]])


def _insert_after_imports(module: cst.Module, stmts: list, assignments: list = ()) -> cst.Module:
    """STMTS (definitions), two blank lines before each, then ASSIGNMENTS (one block), after the imports."""
    body = list(module.body)
    last = -1
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            last = i
        elif not isinstance(stmt, (cst.SimpleStatementLine, cst.Try, cst.If)):
            break  # the first definition: the imports before it (past `__all__ = [...]`, guarded imports) bind the names helpers use
    defined = {s.name.value for s in stmts if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
    for i, stmt in enumerate(body[:last + 1]):  # a call between the imports (`torch.set_num_threads(2)` made
        # a helper's call) needs the helpers above it
        if not (isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom))
                                                                  for s in stmt.body)) \
                and any(re.search(rf"\b{n}\b", module.code_for_node(stmt)) for n in defined):
            last = i - 1
            break
    spaced = [s.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]) for s in stmts]
    if assignments:
        first = assignments[0]
        spaced += [first.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *first.leading_lines]),
                   *assignments[1:]]
    rest = body[last + 1:]
    if rest and not rest[0].leading_lines:
        rest[0] = rest[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    return module.with_changes(body=[*body[:last + 1], *spaced, *rest])
