"""Device utilities of training scripts: seeding the CUDA generators (DINO's fix_random_seeds), counting
GPUs, waiting for the device, asking for Apple's MPS. Each was left unconverted (`torch` undefined when the
function ran); now the function verifies against torch on CPU and its translation names no torch."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import numpy as np
import torch
from torch import nn


def fix_random_seeds(seed=31):
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.cuda.manual_seed(seed)
    np.random.seed(seed)


def device_scale(x):
    n = torch.cuda.device_count()
    if torch.backends.mps.is_available():
        n += 10
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        n += torch.cuda.current_device()
    return x * (n + 1)


class Seeded(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        fix_random_seeds(0)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return device_scale(self.fc(x))
'''


def test_device_utilities_run_without_torch(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "utils.py", SOURCE, shared_verifier)
    assert_verified(report, ["Seeded"])
    assert_verified(report, ["device_scale"], level=None)
    assert "# msagent:" not in text and "torch.cuda" not in text and "torch.backends" not in text
    assert "_ms_no_setting(seed)" in text
