"""A package whose `__init__` imports a module that uses torchvision (augmentations for a self-supervised
wrapper), beside a module of plain layers. torchvision imports torch, so translated code cannot import
it: its names become stand-ins that raise when used. The package imports as the user will run it,
the plain layers verify, and the unit that does use torchvision is not verified."""
from agent.config import MigrateSettings
from agent.pipeline import migrate
from tests.support.one_file import migrate_one_file

INIT = "from pkg.layers import Block\nfrom pkg.ssl import Augmented\n"

LAYERS = '''\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.relu(self.proj(x)) + x
'''

SSL = '''\
import os, torchvision
import torch
from torch import nn
from torchvision import transforms as T


class Augmented(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.flip = T.RandomHorizontalFlip(p=0.0)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(self.flip(x))


class Head(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, 2)

    def forward(self, x):
        return self.proj(x).softmax(dim=-1)
'''


def test_torch_only_imports_become_stand_ins(tmp_path, shared_verifier):
    src = tmp_path / "src" / "pkg"
    src.mkdir(parents=True)
    for name, text in (("__init__.py", INIT), ("layers.py", LAYERS), ("ssl.py", SSL)):
        (src / name).write_text(text)
    report = migrate(tmp_path / "src", tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("Block", "Head"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
    # not verified: here torchvision is not installed even for torch; where it is, the stand-in raises
    assert not units["Augmented"].status.startswith("verified") and "torchvision" in units["Augmented"].reason
    text = (tmp_path / "out" / "pkg" / "ssl.py").read_text()
    assert "import torchvision" not in text and "from torchvision" not in text and "import os\n" in text
    assert "T = _MsTorchOnly('torchvision.transforms')" in text


def test_a_stand_in_raises_when_used_and_names_what_it_stood_for():
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    code = translate_source("from torchvision import transforms as T\nflip = T.RandomHorizontalFlip\n",
                            load_kb(), "cpu").code
    scope: dict = {}
    exec(compile(code, "ssl.py", "exec"), scope)  # the file imports: nothing runs torchvision yet
    try:
        scope["flip"](p=0.5)
    except ImportError as exc:
        assert "torchvision.transforms.RandomHorizontalFlip needs torch" in str(exc)
    else:
        raise AssertionError("a stand-in ran")


USES_TORCH_LIBRARY = '''\
import torch
from torch import nn
from safetensors.torch import load_file


class Loaded(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.relu(self.proj(x))
'''


def test_an_installed_library_that_imports_torch_is_named_as_the_cause(tmp_path, shared_verifier):
    # safetensors.torch imports torch itself: the translated file cannot import on the MindSpore side, and
    # the failure names the library rather than blaming torch code the rules left in the file
    report, _ = migrate_one_file(tmp_path, "loaded.py", USES_TORCH_LIBRARY, shared_verifier)
    (unit,) = [u for u in report.units if u.name == "Loaded"]
    assert unit.status == "failed" and "imported by safetensors.torch, installed here and built on torch" in unit.reason
    assert "the rules left torch code" not in unit.reason, unit.reason
