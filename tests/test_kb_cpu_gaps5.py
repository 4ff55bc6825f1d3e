"""APIs benchmark-style modules use that had no rule on CPU (kl_div, huber_loss, triplet margin losses,
torch.diag, BatchNorm3d) and a call the CPU kernel's target refuses (ELU with alpha != 1): the rules take
another target verified on the device when it expresses the call as written. Translations checked on
real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Losses(nn.Module):
    def __init__(self, margin=0.5):
        super().__init__()
        self.triplet = nn.TripletMarginLoss(margin=margin)

    def forward(self, a, b, c):
        p = torch.softmax(b, dim=-1)
        return (F.kl_div(torch.log_softmax(a, dim=-1), p, reduction="batchmean")
                + F.huber_loss(a, b, delta=0.5) + self.triplet(a, b, c)
                + F.triplet_margin_loss(a, b, c, p=1, swap=True))


class Volume(nn.Module):
    def __init__(self, channels=4, alpha=0.7):
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm3d(channels)
        self.act = nn.ELU(alpha=alpha)
        self.alpha = alpha

    def forward(self, x):
        y = self.act(self.bn(self.conv(x)))
        return F.elu(y, alpha=self.alpha) + F.elu(y)


class DiagScale(nn.Module):
    def __init__(self, n=16):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(n))

    def forward(self, x):
        return x @ torch.diag(self.scale) + torch.diag(x @ x.transpose(0, 1)).sum() + x.diag(1).sum()
'''


def test_elu_calls_take_the_target_that_expresses_them():
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    code = translate_source("import torch.nn.functional as F\n\n\ndef f(x, a):\n"
                            "    return F.elu(x) + F.elu(x, alpha=1.5) + F.elu(x, alpha=a)\n", load_kb(), "cpu")
    assert "ops.elu(input_x=x)" in code.code and "_ms_elu(x, alpha=1.5)" in code.code and "_ms_elu(x, alpha=a)" in code.code
    assert not code.markers


def test_losses_diag_and_batchnorm3d_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "gaps.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "nn.BatchNorm3d(" in out and "_MsELU(alpha=alpha)" in out
    assert_verified(report, ["Losses", "Volume", "DiagScale"])


def test_enable_grad_runs_the_region_and_backward_is_explained():
    """`torch.enable_grad()` as a decorator and a context manager runs the code as it is (MindSpore
    differentiates functionally); `torch.autograd.backward` has no counterpart and the KB says why."""
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    kb = load_kb()
    result = translate_source("import torch\n\n\n@torch.enable_grad()\ndef f(x):\n    with torch.enable_grad():\n"
                              "        return x * 2\n", kb, "cpu")
    assert not result.markers and "torch" not in result.code.replace("torch.enable_grad", "")
    ns: dict = {}
    exec(compile(result.code, "f.py", "exec"), ns)
    assert ns["f"](3) == 6
    backward = kb.get("torch.autograd.backward")
    assert backward is not None and not backward.targets and "bprop" in backward.notes


PADDED = '''\
import torch.nn as nn


class SamePadded(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.even = nn.Conv2d(channels, channels, (4, 3), padding="same", dilation=2)
        self.valid = nn.Conv2d(channels, channels, 3, padding="valid")
        self.line = nn.Conv1d(channels, channels, 4, padding="same")

    def forward(self, x):
        y = self.valid(self.even(x))
        return self.line(y.flatten(2))
'''


def test_string_padding_is_the_pad_mode(tmp_path, shared_verifier):
    """torch's `padding='same'` / `'valid'` is MindSpore's pad_mode with padding 0 (an even kernel and a
    dilation included: the extra row goes to the same side)."""
    report, out = migrate_one_file(tmp_path, "padded.py", PADDED, shared_verifier)
    assert "padding=0, pad_mode='same'" in out and "pad_mode='valid'" in out
    assert_verified(report, ["SamePadded"])
