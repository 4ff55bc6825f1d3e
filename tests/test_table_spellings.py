"""The official mapping tables spell some torch names with the wrong case (`torch.nn.SeLU`,
`torch.nn.CeLU`, `torch.optim.RMSProp`): the KB keys them as torch spells them, so code using
`nn.SELU()` and `nn.CELU()` is converted (SELU by a composed layer: the SeLU kernel's gradient differs
on CPU) and verifies on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.selu = nn.SELU()
        self.celu = nn.CELU(alpha=0.5)

    def forward(self, x):
        return self.celu(self.selu(self.fc(x)) - 0.5)
'''


def test_the_kb_uses_torchs_own_spelling():
    from tools.build_kb import torch_spelling

    assert torch_spelling("torch.nn.SeLU") == "torch.nn.SELU"
    assert torch_spelling("torch.optim.RMSProp") == "torch.optim.RMSprop"
    assert torch_spelling("torch.nn.ReLU") == "torch.nn.ReLU"
    assert torch_spelling("torch.nn.NoSuchLayer") == "torch.nn.NoSuchLayer"


def test_layers_the_tables_misspell_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "head.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert_verified(report, ["Head"])
