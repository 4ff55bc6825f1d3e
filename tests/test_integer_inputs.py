"""torch computes `torch.log`, `exp`, `sqrt` and the other float functions of an integer tensor in float32;
MindSpore's CPU kernels refuse integer input ('Select CPU operator[Log] fail! Unsupported data type!'), so a
Mamba block's `A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1)...))` could not be built. The
observation pass sees where torch ran such a function on an integer tensor; there, and only there, the
translation casts the input to float32."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


class SSM(nn.Module):
    def __init__(self, d_inner=8, d_state=4):
        super().__init__()
        A = torch.arange(1, d_state + 1).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.scale = torch.sqrt(torch.tensor(d_state))
        self.proj = nn.Linear(d_state, d_state)

    def forward(self, x):
        steps = torch.arange(x.shape[-1]).exp().reciprocal()
        return self.proj(x * self.scale) @ (-torch.exp(self.A_log.float())).t() + steps.sum()
'''


def test_float_functions_of_integer_tensors_cast_where_torch_saw_integers(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "ssm.py", SOURCE, shared_verifier)
    assert_verified(report, ["SSM"])
    assert "ops.log(A.astype(ms.float32))" in text
    assert "ops.arange(x.shape[-1]).astype(ms.float32).exp().reciprocal()" in text  # not the float reciprocal
    assert "ops.exp(self.A_log.float())" in text  # a float input stays as written
