"""Torch names that reach a file through `from .common import *` (a repo module that imports torch and
declares no `__all__`), as model libraries write their factories: the file has no torch import of its
own and still uses `torch`, `nn` and `F`. The rules translate it as if it had imported them; `__all__`
limits what a star import passes on, and chains of star imports pass names along. A torch layer with a
helper-class target used as a value (`act_layer=nn.Mish`) builds that helper."""
import ast

from agent.config import MigrateSettings
from agent.pipeline import migrate
from agent.scan.star_imports import star_inherited
from tests.support.one_file import assert_verified

COMMON = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


def mish(x):
    return x * torch.tanh(F.softplus(x))
'''

MODEL = '''\
from .common import *


class Block(nn.Module):
    def __init__(self, dim=8, act_layer=nn.Mish):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.act = act_layer()

    def forward(self, x):
        return torch.cat([self.act(self.fc(x)), mish(x)], dim=-1) + F.relu(x).sum(-1, keepdim=True)
'''


def test_a_file_using_torch_names_from_a_star_import_translates_and_verifies(tmp_path, shared_verifier):
    src = tmp_path / "src" / "pkg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "common.py").write_text(COMMON)
    (src / "model.py").write_text(MODEL)
    report = migrate(tmp_path / "src", tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    out = (tmp_path / "out" / "pkg" / "model.py").read_text()
    code = [line for line in out.splitlines() if not line.lstrip().startswith(("#", '"""'))]
    assert not [line for line in code if "torch" in line or "F.relu" in line], out
    assert not [m for f in report.files for m in f.markers], [(f.path, f.markers) for f in report.files]
    assert_verified(report, ["Block"])


def test_all_limits_and_chains_pass_on_the_torch_names():
    trees = {
        "pkg/__init__.py": "",
        "pkg/base.py": "import torch\nimport torch.nn as nn\nimport numpy as np\n",
        "pkg/mid.py": "from pkg.base import *\n",
        "pkg/top.py": "from .mid import *\n",
        "pkg/shy.py": "import torch\nimport torch.nn.functional as F\n__all__ = ['F']\n",
        "pkg/user.py": "from . import shy\nfrom .shy import *\n",
        "pkg/private.py": "import torch as _torch\n",
        "pkg/sees_private.py": "from .private import *\n",
    }
    found = star_inherited({rel: ast.parse(text) for rel, text in trees.items()})
    assert found["pkg/mid.py"] == {"torch": "torch", "nn": "torch.nn"}
    assert found["pkg/top.py"] == {"torch": "torch", "nn": "torch.nn"}  # through mid's star import of base
    assert found["pkg/user.py"] == {"F": "torch.nn.functional"}  # shy's __all__ names F only
    assert "pkg/sees_private.py" not in found  # a star import skips names starting with "_"
    assert "pkg/base.py" not in found
