"""A repo that ships the same model for several frameworks (torch/, keras/, a Gluon folder) names its
classes alike in each; only the torch ones are units. The Keras twin of `CfC` is no nn.Module because
the torch `CfC` is one, and a class deriving from a torch class imported from the repo still is."""
from __future__ import annotations

import ast

from agent.config import MigrateSettings
from agent.kb.store import load_kb
from agent.pipeline import translate_repo
from agent.scan.units import module_class_keys

FILES = {
    "pkg/__init__.py": "",
    "pkg/torch/__init__.py": "",
    "pkg/torch/cell.py": (
        "import torch\nfrom torch import nn\n\n\n"
        "class Cell(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.fc = nn.Linear(n, n)\n\n"
        "    def forward(self, x):\n        return torch.tanh(self.fc(x))\n\n\n"
        "class Wrapper(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.cell = Cell(n)\n\n"
        "    def forward(self, x):\n        return self.cell(x)\n"),
    "pkg/torch/deep.py": (
        "from pkg.torch.cell import Cell\n\n\nclass DeepCell(Cell):\n    pass\n"),
    "pkg/keras/__init__.py": "",
    "pkg/keras/cell.py": (
        "import keras\n\n\nclass Cell(keras.layers.Layer):\n    def call(self, x):\n        return x\n\n\n"
        "class Wrapper(Cell):\n    pass\n"),
    "pkg/gluon/cell.py": (
        "from mxnet.gluon import HybridBlock\n\n\nclass Cell(HybridBlock):\n    pass\n"),
}


def _write(root):
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_only_the_torch_twins_are_modules():
    trees = {rel: ast.parse(text) for rel, text in FILES.items()}
    assert module_class_keys(trees) == {("pkg/torch/cell.py", "Cell"), ("pkg/torch/cell.py", "Wrapper"),
                                        ("pkg/torch/deep.py", "DeepCell")}


def test_a_src_layout_package_is_the_repo_own():
    # `src/` is no package: `pkg` under it is what the repo's files import
    trees = {f"src/{rel}": ast.parse(text) for rel, text in FILES.items()}
    assert ("src/pkg/torch/deep.py", "DeepCell") in module_class_keys(trees)


def test_migrate_lists_units_of_the_torch_files_only(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _write(src)
    out.mkdir()
    translated = translate_repo(src, out, load_kb(), MigrateSettings())
    assert sorted((u.file, u.name) for u in translated.units) == [
        ("pkg/torch/cell.py", "Cell"), ("pkg/torch/cell.py", "Wrapper"), ("pkg/torch/deep.py", "DeepCell")]
