"""An initialiser (`with torch.no_grad(): tensor.uniform_(...).erfinv_().mul_(...)`, DINO's and timm's
trunc_normal_) returns its input changed in place outside autograd: torch's gradient is the identity of the
copy it was given, an artifact, and MindSpore refuses to differentiate an input assigned in place. Its
forward is compared; the gradient level does not apply and says why."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import math

import torch


def trunc_normal(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    def norm_cdf(x):
        return (1. + math.erf(x / math.sqrt(2.))) / 2.

    with torch.no_grad():
        low, high = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
        tensor.clamp_(2 * low - 1, 2 * high - 1)
        tensor.mul_(std * math.sqrt(2.))
        tensor.add_(mean)
        return tensor


def scaled(x, s=2.0):
    return torch.tanh(x) * s
'''


def test_an_in_place_initialiser_is_compared_forward_only(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "init.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    init = units["trunc_normal"]
    assert init.status == "verified-by-rules", (init.status, init.reason)
    assert init.levels["grad"]["status"] == "not-run" and "outside autograd" in init.levels["grad"]["reason"]
    assert units["scaled"].levels["grad"]["status"] == "verified", units["scaled"].levels  # a real function: checked
