"""`msagent migrate --sarif FILE`: the report as a SARIF 2.1.0 log, for CI code scanning.

One result per unit that failed (error) or was not proven (warning), per torch-using function
deferred to another level (note), per file the run could not translate (error) and per call
site the rules left marked with `# msagent:` (warning). Each points at its line in the SOURCE
repository, as a URI relative to the base id SRCROOT: a failed unit at its first diverging layer
when localization named one (the `self.<layer> = ...` line that builds it), else at the unit's
`class`/`def` line. Verified units give no result. Messages quote the migrated code's own text
(reasons, names), so they go through agent.report.textsafe: redacted, on one line, truncated.
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from agent import __version__
from agent.report.schema import Report, UnitRecord
from agent.report.textsafe import one_line

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "SRCROOT"
MAX_RESULTS = 5000  # GitHub code scanning keeps at most this many results of a run
MAX_SOURCE = 5_000_000  # bytes: a larger file is not parsed for definition lines

# id, default level, short description, full description
RULES = (
    ("unit-failed", "error", "A unit failed verification",
     "The MindSpore translation of this nn.Module or function ran and differed from the torch original, "
     "or raised. The result points at the first diverging layer when localization found one, else at "
     "the unit's definition; msagent-report.json has the per-level details."),
    ("unit-unproven", "warning", "A unit was not verified",
     "The unit was not exercised: verification was off, the verification worker did not start, a "
     "dependency was missing, or the run was interrupted before it."),
    ("unit-deferred", "note", "Torch code not verified at this level",
     "Training or data code is not a unit at this verification level; --level grad or step exercises "
     "the modules it trains."),
    ("file-error", "error", "A file was not translated",
     "The file could not be read, parsed or translated, and was copied through unchanged."),
    ("call-site-marked", "warning", "A torch call the rules left marked",
     "The rules could not convert this call site and left a `# msagent:` marker on it in the output."),
)
_RULE_INDEX = {rule[0]: i for i, rule in enumerate(RULES)}


class _Sources:
    """Top-level definitions of the source files, parsed once each, read only inside SRC."""

    def __init__(self, root: Path | None):
        self.root = root.resolve() if root else None
        self._trees: dict[str, ast.Module | None] = {}

    def tree(self, rel: str) -> ast.Module | None:
        if rel not in self._trees:
            self._trees[rel] = self._parse(rel)
        return self._trees[rel]

    def _parse(self, rel: str) -> ast.Module | None:
        if self.root is None or not rel.endswith(".py"):
            return None
        try:
            path = (self.root / rel).resolve()
            if not path.is_relative_to(self.root) or not path.is_file() or path.stat().st_size > MAX_SOURCE:
                return None
            return ast.parse(path.read_bytes().decode("utf-8"), filename=rel)
        except Exception:  # unreadable, not UTF-8, a syntax error, too deep: the result keeps no line
            return None

    def unit_line(self, u: UnitRecord) -> int | None:
        """The unit's `class`/`def` line or, for a failure localized to a layer, that layer's."""
        tree = self.tree(u.file)
        top = _top_level(tree, u.name) if tree else None
        if top is None:
            return None
        div = u.divergence or {}
        if isinstance(div.get("line"), int) and div["line"] >= 1:
            return div["line"]
        if u.status == "failed" and isinstance(div.get("path"), str) and isinstance(top, ast.ClassDef):
            return _layer_line(tree, top, div["path"]) or top.lineno
        return top.lineno


def _top_level(tree: ast.Module, name: str) -> ast.AST | None:
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _layer_line(tree: ast.Module, cls: ast.ClassDef, path: str) -> int | None:
    """The line of `self.<name> = ...` for the deepest part of a submodule path ("blocks.1.act")
    found by following the repo's own classes that each assignment constructs."""
    line = None
    for part in path.split("."):
        if part.isdigit():  # an index into a ModuleList/Sequential: its items' class is already in `cls`
            continue
        if cls is None:
            break
        found = [n for n in ast.walk(cls) if isinstance(n, (ast.Assign, ast.AnnAssign))
                 and any(_is_self_attr(t, part) for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
        if not found:
            break
        node = min(found, key=lambda n: n.lineno)
        line, cls = node.lineno, _constructed_class(tree, node.value)
    return line


def _is_self_attr(target: ast.AST, name: str) -> bool:
    return (isinstance(target, ast.Attribute) and target.attr == name and isinstance(target.value, ast.Name)
            and target.value.id == "self")


def _constructed_class(tree: ast.Module, value: ast.AST | None) -> ast.ClassDef | None:
    """The first class of this file that `value` calls (Block() or nn.ModuleList([Block() ...]))."""
    for n in ast.walk(value) if value is not None else ():
        if isinstance(n, ast.Call):
            func = n.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            top = _top_level(tree, name) if name else None
            if isinstance(top, ast.ClassDef):
                return top
    return None


def _location(rel: str, line: int | None, unit: UnitRecord | None = None) -> dict:
    physical: dict = {"artifactLocation": {"uri": quote(rel, safe="/"), "uriBaseId": SRCROOT}}
    if line and line >= 1:
        physical["region"] = {"startLine": line}
    loc: dict = {"physicalLocation": physical}
    if unit is not None:
        loc["logicalLocations"] = [{"name": one_line(unit.name, 200),
                                    "kind": "type" if unit.kind == "module" else "function"}]
    return loc


def _result(rule: str, message: str, location: dict, level: str | None = None, **properties) -> dict:
    out = {"ruleId": rule, "ruleIndex": _RULE_INDEX[rule], "level": level or RULES[_RULE_INDEX[rule]][1],
           "message": {"text": one_line(message, 1000) or rule}, "locations": [location]}
    if properties:
        out["properties"] = {k: v for k, v in properties.items() if v is not None}
    return out


def _unit_message(u: UnitRecord) -> str:
    name = one_line(f"{u.file}::{u.name}", 200)
    if u.status == "failed":
        text = f"{name} failed verification at level {u.level_failed or u.level}"
        div = u.divergence or {}
        if div.get("path"):
            text += f"; first diverging layer {div['path']}"
            if div.get("torch_class") or div.get("ms_class"):
                text += f" ({div.get('torch_class') or '?'} in torch, {div.get('ms_class') or '?'} in MindSpore)"
    else:
        text = f"{name} was not verified ({u.status})"
    return f"{text}: {u.reason}" if u.reason else text


def build(report: Report, src: Path | None = None) -> dict:
    """The SARIF log (a dict ready for json.dump) of `report`; `src` defaults to report.source."""
    root = src if src is not None else Path(report.source) if report.source else None
    sources = _Sources(root)
    results = []
    for u in report.units:
        if u.status.startswith("verified"):
            continue
        rule = "unit-failed" if u.status == "failed" else "unit-unproven"
        results.append(_result(rule, _unit_message(u), _location(u.file, sources.unit_line(u), u),
                               unit=f"{u.file}::{u.name}", status=u.status, failure=u.failure))
    for u in report.deferred:
        results.append(_result("unit-deferred", f"{u.file}::{u.name} not verified at this level: {u.reason}",
                               _location(u.file, sources.unit_line(u), u), unit=f"{u.file}::{u.name}"))
    for f in report.files:
        if f.status == "error":
            results.append(_result("file-error", f.error or f"{f.path}: not translated", _location(f.path, None)))
        notebook = f.path.endswith(".ipynb")  # a marker's line counts within its cell, not the .ipynb file
        for m in f.markers:
            results.append(_result("call-site-marked", m.reason, _location(f.path, None if notebook else m.line)))
    invocation: dict = {"executionSuccessful": not report.errors}
    notices = [{"level": "error", "message": {"text": one_line(e, 1000) or "error"}} for e in report.errors]
    if len(results) > MAX_RESULTS:
        notices.append({"level": "warning", "message": {
            "text": f"{len(results) - MAX_RESULTS} more results left out; msagent-report.json lists them all"}})
        results = results[:MAX_RESULTS]
    if notices:
        invocation["toolExecutionNotifications"] = notices
    if report.notes:
        invocation["toolConfigurationNotifications"] = [
            {"level": "note", "message": {"text": one_line(n, 1000) or "note"}} for n in report.notes]
    run: dict = {
        "tool": {"driver": {
            "name": "msagent", "version": __version__, "semanticVersion": __version__,
            "rules": [{"id": rid, "name": "".join(w.capitalize() for w in rid.split("-")),
                       "shortDescription": {"text": short}, "fullDescription": {"text": full},
                       "defaultConfiguration": {"level": level}} for rid, level, short, full in RULES]}},
        "invocations": [invocation],
        "results": results,
    }
    if root is not None and root.is_absolute():
        with contextlib.suppress(ValueError):
            run["originalUriBaseIds"] = {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def write_sarif(report: Report, path: Path, src: Path | None = None) -> None:
    """Write build(report) to `path` atomically: a temporary file beside it, then os.replace, so
    a reader never sees half a log. Creates missing parent folders; raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(build(report, src), fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
