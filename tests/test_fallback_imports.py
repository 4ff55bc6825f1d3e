"""A torch import in an except block binds a name other files import (`from .modules import
FusedLayerNorm`, the fallback when an optional fused kernel is missing): the translation keeps the
binding, as the MindSpore counterpart, so the package imports and its models verify."""
from agent.config import MigrateSettings
from agent.pipeline import migrate

MODULES = '''\
import torch
from torch import nn

try:
    from msagent_test_absent_fused.normalization import FusedLayerNorm
except ImportError:
    from torch.nn import LayerNorm as FusedLayerNorm
'''

MODEL = '''\
import torch
from torch import nn

from .modules import FusedLayerNorm


class Encoder(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.norm = FusedLayerNorm(dim)

    def forward(self, x):
        return self.norm(torch.relu(self.fc(x)))
'''


def test_a_fallback_import_keeps_its_name_for_the_files_importing_it(tmp_path, shared_verifier):
    pkg = tmp_path / "src" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "modules.py").write_text(MODULES)
    (pkg / "model.py").write_text(MODEL)
    report = migrate(tmp_path / "src", tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    (unit,) = [u for u in report.units if u.name == "Encoder"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert "FusedLayerNorm = _ms_LayerNorm" in (tmp_path / "out" / "pkg" / "modules.py").read_text()
