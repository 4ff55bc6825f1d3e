"""scan/names.py: qualified names from imports (and the scope-aware fallback), lazy positions,
checked against LibCST's own providers on real files of the eval corpus."""
from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.scan.names import FileNames, Resolver, scan_names
from agent.rules.positions import Positions, top_level_lines
from agent.rules.walk import statements

ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted(ROOT.glob("evals/cases/*/repo/**/*.py"))


def _refs(module: cst.Module) -> list[cst.CSTNode]:
    """Names and dotted names standing for a value (not an attribute's or a keyword's name)."""
    out: list[cst.CSTNode] = []
    skip: set[int] = set()

    class _V(cst.CSTVisitor):
        def visit_Import(self, node) -> bool:
            return False

        def visit_ImportFrom(self, node) -> bool:
            return False

        def visit_Attribute(self, node: cst.Attribute) -> None:
            skip.add(id(node.attr))
            root = node.value
            while isinstance(root, cst.Attribute):
                root = root.value
            if isinstance(root, cst.Name):  # a dotted name (the rules ask about no other attribute)
                out.append(node)

        def visit_Arg(self, node: cst.Arg) -> None:
            if node.keyword is not None:
                skip.add(id(node.keyword))

        def visit_Name(self, node: cst.Name) -> None:
            if id(node) not in skip:
                out.append(node)

    module.visit(_V())
    return out


@pytest.mark.parametrize("path", CORPUS[::3], ids=lambda p: str(p.relative_to(ROOT / "evals/cases")))
def test_torch_names_agree_with_libcst(path):
    source = path.read_text()
    module = cst.parse_module(source)
    names = scan_names(source)
    ours = Resolver(module, names)
    scoped = Resolver(module, FileNames(shadowed=True))  # LibCST's QualifiedNameProvider
    checked = 0
    for node in _refs(module):
        theirs = {n for n in scoped.qualified(node) if n == "torch" or n.startswith("torch.")}
        mine = {n for n in ours.qualified(node) if n == "torch" or n.startswith("torch.")}
        assert mine == theirs, cst.Module([]).code_for_node(node)
        checked += bool(theirs)
    assert checked or not names.torch_bound


def test_import_styles_resolve():
    source = ("import torch\nimport torch.nn as tnn\nfrom torch.nn import functional as F\n"
              "from torch import nn\nfrom torch.nn import Conv2d as C\n"
              "a = tnn.Linear\nb = F.relu\nc = nn.ReLU\nd = C\ne = torch.nn.functional.gelu\n")
    module = cst.parse_module(source)
    r = Resolver(module, scan_names(source))
    values = [s.body[0].value for s in module.body[5:]]
    assert [r.torch_name(v) for v in values] == ["torch.nn.Linear", "torch.nn.functional.relu", "torch.nn.ReLU",
                                                 "torch.nn.Conv2d", "torch.nn.functional.gelu"]


def test_alias_rebound_elsewhere_follows_scopes():
    # `F` is torch's functional at module level and a parameter inside g: only the scoped answer is right
    source = ("import torch.nn.functional as F\n"
              "def f(x):\n    return F.relu(x)\n"
              "def g(F, x):\n    return F.relu(x)\n")
    names = scan_names(source)
    assert names.shadowed
    module = cst.parse_module(source)
    r = Resolver(module, names)
    f_call = module.body[1].body.body[0].body[0].value.func
    g_call = module.body[2].body.body[0].body[0].value.func
    assert r.torch_name(f_call) == "torch.nn.functional.relu"
    assert r.torch_name(g_call) is None


def test_an_import_fallback_needs_no_scopes_and_answers_as_they_would():
    # the code's own stand-in for an older torch: the name means torch's API everywhere it is used
    source = ("import torch\n"
              "try:\n    from torch.nn.functional import rms_norm\n"
              "except ImportError:\n    from .fast_norm import rms_norm\n"
              "try:\n    from torch import _assert\n"
              "except ImportError:\n    def _assert(condition, message):\n        assert condition, message\n"
              "def f(x, w):\n    _assert(x.ndim == 3, 'rank')\n    return rms_norm(x, (4,), w)\n")
    names = scan_names(source)
    assert not names.shadowed
    module = cst.parse_module(source)
    ours, scoped = Resolver(module, names), Resolver(module, FileNames(shadowed=True))
    body = module.body[3].body.body
    calls = [body[0].body[0].value.func, body[1].body[0].value.func]
    assert [ours.torch_name(c) for c in calls] == [scoped.torch_name(c) for c in calls] == [
        "torch._assert", "torch.nn.functional.rms_norm"]
    # a parameter of that name elsewhere still needs the scopes
    assert scan_names(source + "def g(rms_norm):\n    return rms_norm\n").shadowed


def test_identifiers_cover_every_name_but_strings():
    names = scan_names("import numpy as np\nclass A:\n    def m(self, k=1):\n        return np.ops(key=k)\n"
                       "s = 'nn'\n")
    assert {"np", "numpy", "A", "m", "self", "k", "ops", "key", "s"} <= names.identifiers
    assert "nn" not in names.identifiers and not names.torch_bound


@pytest.mark.parametrize("from_ast", [False, True], ids=["codegen", "ast-lines"])
@pytest.mark.parametrize("path", CORPUS[1::4], ids=lambda p: str(p.relative_to(ROOT / "evals/cases")))
def test_positions_match_the_whole_file_provider(path, from_ast):
    source = path.read_text()
    module = cst.parse_module(source)
    full = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = top_level_lines(module, scan_names(source).tree) if from_ast else None
    assert lines is not None or not from_ast
    lazy = Positions(module, lines)
    checked = 0
    for top in module.body:
        members = top.body.body if isinstance(top, cst.ClassDef) and isinstance(top.body, cst.IndentedBlock) else [top]
        for member in members:
            class _V(cst.CSTVisitor):
                def visit_Call(self, node: cst.Call) -> None:
                    nonlocal checked
                    assert lazy.start(top, node) == full[node].start
                    assert lazy.line(top, member if member is not top else None, node) == full[node].start.line
                    checked += 1

            member.visit(_V())
    assert checked


def test_statements_walk_reaches_nested_bodies_only():
    module = cst.parse_module("class A:\n    def f(self):\n        if x:\n            y = 1\n        else:\n"
                              "            z = [w for w in q]\n        try:\n            pass\n"
                              "        except E:\n            u = 2\n")
    kinds = [type(s).__name__ for s in statements(module)]
    assert kinds == ["ClassDef", "FunctionDef", "If", "SimpleStatementLine", "SimpleStatementLine", "Try",
                     "SimpleStatementLine", "SimpleStatementLine"]


def test_top_level_lines_cover_comments_decorators_and_semicolons():
    source = ("# header\n\nimport os; import sys\n\n\n# about f\n@dec\n# between\n@dec2\ndef f():\n    pass\n"
              "class A:\n    x = 1\n")
    module = cst.parse_module(source)
    # the file's header comment belongs to the module, not to its first statement
    assert top_level_lines(module, scan_names(source).tree) == [(3, 3), (4, 11), (12, 13)]
