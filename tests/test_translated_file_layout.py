"""Helpers (code the KB writes once into a translated file) go after the file's imports, wherever the
file puts them: past `__all__` and module constants, before the first definition."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source

SOURCE = '''"""Normalization routines."""

__all__ = ["make"]

import math
import torch
import torch.nn as nn

try:
    import scipy
except ImportError:
    scipy = None


def make(c):
    return nn.InstanceNorm2d(c)
'''


def test_helper_follows_the_imports_after_all_and_guarded_imports():
    code = translate_source(SOURCE, load_kb(), "cpu").code
    helper = code.index("class _MsInstanceNorm")
    assert code.index("__all__") < code.index("from mindspore import nn") < helper
    assert helper < code.index("def make")
    namespace: dict = {}
    exec(compile(code, "<translated>", "exec"), namespace)  # binds nn before the helper's class statement
    assert namespace["make"](4) is not None


CONTAINER = '''\
import torch.nn as nn


class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential()
        self.blocks.add_module("a", nn.Linear(4, 4))

    def forward(self, x):
        for layer in self.blocks._modules.values():
            x = layer(x)
        return x
'''


def test_registry_of_a_submodule_is_renamed_inside_a_module_class():
    code = translate_source(CONTAINER, load_kb(), "cpu").code
    assert "self.blocks._cells.values()" in code and "_modules" not in code


VERSIONED = '''\
import torch


def pick(x):
    if torch.__version__ < "1.5":
        return x - 1
    if torch.__version__ >= "2.2":  # "2.13" >= "2.2" as versions, not as strings
        return x * 2
    return x
'''


def test_torch_version_checks_answer_as_the_pinned_torch_does():
    import torch

    code = translate_source(VERSIONED, load_kb(), "cpu").code
    assert "if torch.__version__" not in code and "import torch" not in code
    namespace: dict = {}
    exec(compile(code, "<translated>", "exec"), namespace)
    assert namespace["pick"](3) == 6
    original: dict = {}
    exec(compile(VERSIONED, "<original>", "exec"), original)
    assert original["pick"](3) == namespace["pick"](3), torch.__version__
