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


ATTENTION = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class QueryPool(nn.Module):
    """Pools a sequence (L, N, E) into one vector per sample with the functional multi-head attention."""

    def __init__(self, width=8, heads=2):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, width))
        self.q, self.k, self.v, self.o = (nn.Linear(width, width) for _ in range(4))
        self.heads = heads

    def forward(self, seq):
        query = self.query.expand(1, seq.shape[1], -1)
        pooled, _ = F.multi_head_attention_forward(
            query, seq, seq, seq.shape[-1], self.heads, None,
            torch.cat([self.q.bias, self.k.bias, self.v.bias]), None, None, False, 0.0,
            self.o.weight, self.o.bias, training=self.training, need_weights=False,
            use_separate_proj_weight=True, q_proj_weight=self.q.weight, k_proj_weight=self.k.weight,
            v_proj_weight=self.v.weight)
        return pooled[0]
'''


def test_functional_multi_head_attention_verifies(tmp_path, shared_verifier):
    """CLIP's attention pool calls F.multi_head_attention_forward, which had no mapping."""
    report, text = migrate_one_file(tmp_path, "pool.py", ATTENTION, shared_verifier)
    assert_verified(report, ["QueryPool"])
    assert "_ms_multi_head_attention_forward(" in text
