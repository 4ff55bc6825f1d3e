"""Loading repo modules without their script code, two same-named trees side by side."""
import ast
import sys
from pathlib import Path

import pytest

from agent.verify.loader import MISSING, RepoImporter, load_unit, strip_script_code, torch_imports

FIX = Path(__file__).parent / "fixtures" / "verify"


def test_script_code_is_dropped_and_definitions_kept(tmp_path):
    (tmp_path / "script.py").write_text(
        "import argparse\nimport not_a_real_package_xyz\n"
        "parser = argparse.ArgumentParser()\nparser.add_argument('--n', type=int, default=3)\n"
        "args = parser.parse_args()\nX = args.n * 2\nmain()\nfor i in range(3):\n    raise SystemExit\n"
        "with open('never.txt', 'w') as fh:\n    fh.write('x')\n"
        "def main():\n    return 1\nif __name__ == '__main__':\n    raise SystemExit\n"
    )
    mod = RepoImporter(tmp_path, "torch").load("script")
    assert mod.X == 6 and mod.main() == 1
    assert mod.__dict__[MISSING][0]["module"] == "not_a_real_package_xyz"
    assert not (tmp_path / "never.txt").exists() and not Path("never.txt").exists()


def test_strip_keeps_future_import_first():
    tree = strip_script_code("from __future__ import annotations\nimport os\nos.getcwd()\n", "f.py")
    assert isinstance(tree.body[0], ast.ImportFrom) and len(tree.body) == 2


def test_training_script_imports_without_running(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(sys, "argv", ["pytest", "--unknown-flag"])
    imp = RepoImporter(FIX / "tvrepo" / "torch", "torch")
    train = imp.load("train")
    assert train.STATS == {"loop_ran": False}
    assert train.args.hidden == 12  # argparse saw no flags and used its defaults
    assert train.mlp.fc1.out_features == 12
    assert sys.argv == ["pytest", "--unknown-flag"]


def test_same_module_names_on_both_sides_stay_apart():
    pytest.importorskip("torch")
    pytest.importorskip("mindspore")
    pt = RepoImporter(FIX / "tvrepo" / "torch", "torch")
    ms = RepoImporter(FIX / "tvrepo" / "ms", "ms")
    pt_cls = load_unit(pt, "tvnet.models", "Net")
    ms_cls = load_unit(ms, "tvnet.models", "Net")
    assert pt_cls is not ms_cls
    assert pt_cls.__mro__[1].__module__.startswith("torch")
    assert ms_cls.__mro__[1].__module__.startswith("mindspore")
    assert "tvnet" not in sys.modules  # nothing leaks outside active()
    # relative and absolute imports both resolved inside each tree
    assert pt.modules["tvnet.models"].MLP is pt.modules["tvnet.blocks"].MLP


def test_torch_imports_found_anywhere_in_a_file():
    src = "import os\ndef f():\n    from torch import nn\n    return __import__('torch.nn')\n"
    assert [(h["line"], h["module"]) for h in torch_imports(src)] == [(3, "torch"), (4, "torch.nn")]


def test_a_foreign_module_of_the_same_name_comes_back_after_the_swap():
    pytest.importorskip("torch")
    import types

    foreign = types.ModuleType("tvnet")
    sys.modules["tvnet"] = foreign
    try:
        imp = RepoImporter(FIX / "tvrepo" / "torch", "torch")
        blocks = imp.load("tvnet.blocks")
        assert blocks.__name__ == "tvnet.blocks" and imp.modules["tvnet"] is not foreign
        assert sys.modules["tvnet"] is foreign and "tvnet.blocks" not in sys.modules
    finally:
        sys.modules.pop("tvnet", None)


def test_one_side_swapped_in_inside_the_other_restores_the_outer_side():
    pytest.importorskip("torch")
    pytest.importorskip("mindspore")
    pt = RepoImporter(FIX / "tvrepo" / "torch", "torch")
    ms = RepoImporter(FIX / "tvrepo" / "ms", "ms")
    pt_blocks, ms_blocks = pt.load("tvnet.blocks"), ms.load("tvnet.blocks")
    assert pt_blocks is not ms_blocks
    with pt.active():
        assert sys.modules["tvnet.blocks"] is pt_blocks
        with ms.active():
            assert sys.modules["tvnet.blocks"] is ms_blocks
        assert sys.modules["tvnet.blocks"] is pt_blocks
    assert "tvnet.blocks" not in sys.modules and "tvnet" not in sys.modules
