"""torch documents many element-wise functions as `name(input: Tensor, *, out: Optional[Tensor])`: an
optional out= with no default written. The KB build once read that out= as required, so torch.square,
torch.asin, torch.log10 ... got no rule at all. Now they convert, one-sided clamps too, and the
function verifies on real torch and MindSpore (CPU, where mint's Log10/Log2 kernels are missing)."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch


def level_db(x, floor=1e-5):
    power = torch.square(x).mean(dim=-1)
    return 10 * torch.log10(power.clamp_min(floor)) + torch.log2(x.abs().clamp_max(4.0) + 1).sum(-1)


def angles(x):
    return torch.rad2deg(torch.asin(x.clamp(-0.9, 0.9))) + torch.clamp_min(torch.atan(x), 0.0)
'''


def test_documented_optional_out_is_not_required():
    from tools.build_kb import torch_signature

    assert torch_signature("torch.log10", "function") == "(input, *, out=None)"
    assert torch_signature("torch.square", "function") == "(input, *, out=None)"


def test_functions_with_optional_out_convert_and_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "levels.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "torch" not in text, text
    assert_verified(report, ["level_db", "angles"])
