"""How much of a corpus of torch code the KB covers (`msagent kb stats --corpus DIR`).

Every .py file under the corpus is read with the rules' own name resolution (agent/scan/names.py),
so `import torch.nn as nn; nn.Conv2d` counts as torch.nn.Conv2d and torch.nn.modules.conv.Conv2d as
torch.nn.Conv2d; einops' names count like torch's. Each torch reference is one use: a call, a
base class, an attribute such as torch.float32, a decorator. Import statements are not uses, nor
bare module names (`torch`, `nn` passed around): a name that only prefixes KB entries is a package.

Per API the status is what a translation for the device would get:
  verified         the target the device picks (`KB.target_for`) has a probe verdict `matched` there
  mapped-unprobed  a target is picked, but no probe here matched it (none run, or only a seed verdict)
  refuted          the entry has targets, and every one raised or differs on the device
  explained        the entry has no target, and its notes say why
  missing          no KB entry (or one with neither a target nor notes)

Tensor methods cannot be told apart from other methods without knowing the receiver's type, so
`x.view(...)` calls are tallied apart, by name alone: a call of an attribute named like a
torch.Tensor method of the KB, in a file that imports torch, whose receiver is not `self`/`cls`, a
literal, or a name some other import binds (np, math, os).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import libcst as cst

from agent.kb.schema import Entry
from agent.kb.store import KB
from agent.scan.names import FileNames, Resolver, is_torch, scan_names
from agent.scan.files import MAX_PY_BYTES, SKIP_DIRS

STATUSES = ("verified", "mapped-unprobed", "refuted", "explained", "missing")
METHOD_BASIS = ("name-based: calls `x.m(...)` whose m names a torch.Tensor method of the KB, in files that "
                "import torch; the receiver is not known to be a tensor")


def status_of(kb: KB, api: str, device: str) -> tuple[str, str | None]:
    """(status, the target's api or None) of one torch name on `device`."""
    entry: Entry | None = kb.get(api)
    if entry is None:
        return "missing", None
    target = kb.target_for(entry, device)
    if target is not None:
        v = target.verdicts.get(device)
        verified = v is not None and v.source == "probe" and v.status == "matched"
        return ("verified" if verified else "mapped-unprobed"), target.api
    if entry.targets:
        return "refuted", None
    return ("explained" if entry.notes.strip() else "missing"), None


def python_files(corpus: Path) -> list[Path]:
    """Every .py file under `corpus`, sorted; version-control, cache and virtualenv folders
    (any folder holding a pyvenv.cfg, or named site-packages) are passed over, links never followed."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(corpus, followlinks=False):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if n not in SKIP_DIRS and n != "site-packages"
                             and not (d / n).is_symlink() and not (d / n / "pyvenv.cfg").exists())
        out += [d / n for n in sorted(filenames) if n.endswith(".py") and not (d / n).is_symlink()]
    return out


class _Counter(cst.CSTVisitor):
    """The torch references of one module, found as the rules engine finds them (outermost dotted
    names; attribute names and keyword names are never references themselves)."""

    def __init__(self, resolver: Resolver, names: FileNames, methods: set[str], packages: set[str]):
        self.resolver, self.methods, self.packages = resolver, methods, packages
        self.other_modules = {k for k, v in names.aliases.items() if not is_torch(v)} | {"self", "cls"}
        self.not_refs: set[int] = set()
        self.apis: Counter = Counter()
        self.tensor_methods: Counter = Counter()

    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if _dotted(node) and self._count(node):
            return False
        self.not_refs.add(id(node.attr))
        return True

    def visit_Name(self, node: cst.Name) -> bool:
        if id(node) not in self.not_refs:
            self._count(node)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        if node.keyword is not None:
            self.not_refs.add(id(node.keyword))
        return True

    def visit_Call(self, node: cst.Call) -> bool:
        func = node.func
        if (isinstance(func, cst.Attribute) and func.attr.value in self.methods
                and not isinstance(func.value, (cst.BaseString, cst.Integer, cst.Float, cst.Dict, cst.List))
                and not (isinstance(func.value, cst.Name) and func.value.value in self.other_modules)
                and not (_dotted(func) and self.resolver.torch_name(func) is not None)):
            self.tensor_methods[func.attr.value] += 1
        return True

    def _count(self, node: cst.CSTNode) -> bool:
        name = self.resolver.torch_name(node)
        if name is None:
            return False
        if name not in self.packages:
            self.apis[name] += 1
        return True


def _dotted(node: cst.BaseExpression) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _packages(kb: KB) -> set[str]:
    """Names that only prefix KB entries (torch, torch.nn, torch.nn.functional, einops)."""
    names = {n for e in kb.entries for n in e.names}
    prefixes = {n.rsplit(".", i)[0] for n in names for i in range(1, n.count(".") + 1)}
    return prefixes - names


def count_file(source: str, methods: set[str], packages: set[str]) -> tuple[Counter, Counter]:
    """(torch API -> uses, tensor method name -> uses) of one file; raises when it does not parse."""
    names = scan_names(source)
    if names.tree is not None and not names.torch_bound:
        return Counter(), Counter()  # parses, imports nothing of torch: nothing to count
    module = cst.parse_module(source)
    if not names.torch_bound:
        return Counter(), Counter()
    visitor = _Counter(Resolver(module, names), names, methods, packages)
    module.visit(visitor)
    return visitor.apis, visitor.tensor_methods


def _rows(kb: KB, uses: Counter, files: Counter, device: str, key=lambda n: n) -> list[dict]:
    rows = []
    for name in uses:
        status, target = status_of(kb, key(name), device)
        rows.append({"api": key(name), "uses": uses[name], "files": files[name], "status": status, "target": target})
    rows.sort(key=lambda r: (-r["uses"], -r["files"], r["api"]))
    return rows


def coverage(kb: KB, corpus: str | Path, device: str = "cpu", top: int = 50) -> dict:
    """The `coverage` object of `msagent kb stats --corpus DIR --json`."""
    root = Path(corpus)
    methods = kb.methods()
    method_names = set(methods)
    packages = _packages(kb)
    uses: Counter = Counter()
    in_files: Counter = Counter()
    m_uses: Counter = Counter()
    m_files: Counter = Counter()
    skipped: list[dict] = []
    paths = python_files(root)
    for path in paths:
        rel = path.relative_to(root).as_posix()
        try:
            if path.stat().st_size > MAX_PY_BYTES:
                skipped.append({"file": rel, "reason": "too large: generated data, not code"})
                continue
            source = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            skipped.append({"file": rel, "reason": f"cannot be read: {type(exc).__name__}"})
            continue
        try:
            apis, meths = count_file(source, method_names, packages)
        except Exception as exc:  # LibCST's syntax errors, and its parser's own faults on odd input
            skipped.append({"file": rel, "reason": f"does not parse: {type(exc).__name__}"})
            continue
        uses.update(apis)
        in_files.update(apis.keys())
        m_uses.update(meths)
        m_files.update(meths.keys())
    apis = _rows(kb, uses, in_files, device)
    in_top, in_all = Counter(r["status"] for r in apis[:top]), Counter(r["status"] for r in apis)
    return {
        "corpus": str(corpus),
        "device": device,
        "files": len(paths),
        "skipped": len(skipped),
        "skipped_files": skipped,
        "top": top,
        "top_status": {s: in_top[s] for s in STATUSES},
        "status": {s: in_all[s] for s in STATUSES},
        "apis": apis,
        "tensor_methods": {
            "basis": METHOD_BASIS,
            "apis": _rows(kb, m_uses, m_files, device, key=lambda m: methods[m].api),
        },
    }
