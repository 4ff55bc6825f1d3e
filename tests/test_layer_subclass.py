"""A repo class deriving from a torch layer (weight-standardised conv, as in BiT/timm): it becomes a
subclass of the MindSpore layer, its super().__init__ takes the base's argument rules, and it
verifies against torch with real weights and inputs."""
from tests.support.one_file import assert_verified, migrate_one_file

STDCONV = '''\
import torch
import torch.nn as nn


class StdConv2d(nn.Conv2d):
    def __init__(self, cin, cout, k, stride=1, padding=1, bias=False, eps=1e-6):
        super().__init__(cin, cout, k, stride=stride, padding=padding, bias=bias)
        self.eps = eps

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + self.eps)
        return torch.nn.functional.conv2d(x, w, self.bias, 1, 1)


class Stem(nn.Module):
    def __init__(self, cin=3, width=8):
        super().__init__()
        self.conv = StdConv2d(cin, width, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))
'''


def test_subclass_of_a_torch_layer_verifies(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "stem.py", STDCONV, shared_verifier)
    assert "class StdConv2d(_MsConv2dBase):" in out and "has_bias=bias" in out and "def construct(self, x):" in out
    status = {u.name: (u.status, u.reason) for u in report.units}
    assert status["Stem"][0] == "verified-by-rules", status


SAME = '''\
import torch.nn as nn
import torch.nn.functional as F


class SameConv(nn.Conv2d):
    def __init__(self, cin, cout, k, stride=1, **kwargs):
        super().__init__(cin, cout, k, stride, **kwargs)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, 1, self.dilation, self.groups)
'''


def test_spread_super_init_and_base_attributes_take_mindspore_names():
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    r = translate_source(SAME, load_kb(), "cpu")
    assert "super().__init__(**_ms_Conv2d_kwargs(cin, cout, k, stride, **kwargs))" in r.code
    assert "self.group" in r.code and "self.groups" not in r.code  # MindSpore's Conv2d keeps `group`
    ns: dict = {}
    exec(r.code, ns)
    conv = ns["SameConv"](3, 4, 3, 2, bias=False, groups=1)
    assert conv.has_bias is False and tuple(conv.stride) == (2, 2) and conv.group == 1


RESETS = '''\
import torch
import torch.nn as nn


class FixedMix(nn.Linear):
    """A Linear whose weight is a fixed matrix its own reset_parameters sets (and freezes)."""

    def __init__(self, n, bias=True):
        self.n = n
        super().__init__(n, n, bias=bias)

    def reset_parameters(self):
        self.weight.data = torch.eye(self.n) * 0.5 + 0.1
        self.weight.requires_grad = False
        if self.bias is not None:
            nn.init.zeros_(self.bias)
'''


def test_a_layer_subclass_reset_parameters_runs_as_torch_runs_it(tmp_path, shared_verifier):
    # torch's Linear.__init__ calls the override; MindSpore's Dense does not: without the call the weight
    # stayed trainable on MindSpore (its gradient had no torch counterpart)
    report, text = migrate_one_file(tmp_path, "mix.py", RESETS, shared_verifier)
    assert_verified(report, ["FixedMix"])
    assert "self.reset_parameters()  # torch's base constructor calls it" in text, text


NO_INIT = '''\
import torch
import torch.nn.functional as F
from torch import nn


class Linear(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Head(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = Linear(in_features=dim, out_features=4, bias=True)

    def forward(self, x):
        return torch.tanh(self.fc(x))
'''


def test_a_layer_subclass_without_init_takes_torch_arguments(tmp_path, shared_verifier):
    # built with torch's keywords (in_features=...), which MindSpore's Dense does not take: a generated
    # __init__ passes them through the base entry's rules
    report, out = migrate_one_file(tmp_path, "head.py", NO_INIT, shared_verifier)
    assert "super().__init__(**_ms_Linear_kwargs(*args, **kwargs))" in out, out
    status = {u.name: (u.status, u.reason) for u in report.units}
    assert status["Linear"][0] == "verified-by-rules" and status["Head"][0] == "verified-by-rules", status
