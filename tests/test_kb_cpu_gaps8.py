"""Gaps found on public model packages outside both corpora, each a KB entry probed on CPU: patch
extraction by nn.Unfold/nn.Fold (mint's have no CPU kernel), QR, and weight normalisation (none in
MindSpore 2.10). Real migrations on the shared worker: the translated module runs next to torch with
torch's weights (weight-normalised layers keep torch's parameter names) and matches, gradients included."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
from torch.nn.utils import weight_norm
from torch.nn.utils.parametrizations import weight_norm as parametrized_weight_norm


class TemporalBlock(nn.Module):
    def __init__(self, channels=4, kernel_size=3):
        super().__init__()
        self.conv1 = parametrized_weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=1))
        self.conv2 = weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=1))
        self.relu = nn.ReLU()
        # written into the computed weight, which the next call recomputes (a TCN's init): no effect in
        # torch, and none in the translation, where that weight is a Tensor, not a Parameter
        nn.init.xavier_uniform_(self.conv1.weight)
        nn.init.normal_(self.conv2.weight, 0.0, 0.01)

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x)))) + x


class Patches(nn.Module):
    def __init__(self, channels=3, patch=2):
        super().__init__()
        self.unfold = nn.Unfold(kernel_size=patch, stride=patch)
        self.fold = nn.Fold(output_size=16, kernel_size=patch, stride=patch)
        self.mix = nn.Linear(channels * patch * patch, channels * patch * patch)

    def forward(self, x):
        cols = self.unfold(x)
        return self.fold(self.mix(cols.transpose(1, 2)).transpose(1, 2))
'''


def test_weight_normalised_and_patch_layers_verify_with_torchs_weights(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "layers.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("TemporalBlock", "Patches"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
        assert units[name].levels["grad"]["status"] == "verified", units[name].levels
    plan = units["TemporalBlock"].weight_map
    assert plan["conv1.parametrizations.weight.original1"]["ms"] == "conv1.parametrizations.weight.original1"
    assert plan["conv2.weight_g"]["ms"] == "conv2.weight_g", plan
    assert "_ms_weight_norm(" in text and "_MsUnfold" in text and "_MsFold" in text
    assert "_ms_fill_(self.conv2.weight" in text
