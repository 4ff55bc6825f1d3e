"""A deep CNN with random weights blows activations up layer after layer when its BatchNorm
running statistics are the constants (mean 0, variance 1): float rounding alone then fails the
comparison. When the torch output shows that (values beyond 1e3), the torch side calibrates the
running statistics on the trial inputs (both sides get them with the weights), so the eval-mode
forward of a deep model verifies."""
from tests.support.one_file import migrate_one_file

DEEP = '''\
import torch.nn as nn


class Deep(nn.Module):
    def __init__(self, width=8, depth=30):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3)))
'''


def test_deep_batchnorm_network_forward_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "deep.py", DEEP, shared_verifier)
    unit = report.units[0]
    forward = (unit.levels or {}).get("forward", {})
    assert forward.get("status") == "verified", (unit.status, unit.reason, unit.levels)
    assert unit.max_abs is not None and unit.max_abs < 1e-3
