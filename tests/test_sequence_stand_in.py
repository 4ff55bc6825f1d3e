"""A module built from Sequentials it is given (`down: nn.Sequential`) and walks (`._modules`, indexing,
len) is verified on stand-ins: each side's Sequential of two identities, so its own control flow (the
order of the walk, the skip sums) is what the comparison checks. Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn


class Pyramid(nn.Module):
    def __init__(self, down: nn.Sequential, up: nn.Sequential, scale=0.5):
        super().__init__()
        assert len(down) == len(up)
        self.down, self.up, self.scale = down, up, scale

    def forward(self, x):
        outs = [x]
        for m in self.down._modules.values():
            x = m(x) * self.scale
            outs.append(x)
        for i in range(len(self.up)):
            x = self.up[i](x) + outs[-2 - i]
        return x
'''


def test_module_given_sequentials_verifies_on_stand_ins(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "pyramid.py", SOURCE, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "Pyramid(down=__msagent_sequence__(), up=__msagent_sequence__())", unit.spec
