"""Gradient semantics that differ between the frameworks, proven end to end at the default level
(grad): each unit below is migrated by the rules and its loss, parameter and input gradients are
compared with torch's. A custom torch.autograd.Function runs as a Cell whose bprop calls its
backward; an Embedding with max_norm renormalises the looked-up rows in its table, outside the
gradient, as torch does."""
from __future__ import annotations

import pytest

from agent.config import MigrateSettings
from agent.pipeline import migrate

SEMANTICS = 'import torch\nfrom torch import nn\n\n\nclass NoGradBlock(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        with torch.no_grad():\n            t = self.fc(x)\n        return t + self.fc(x) * 2\n\n\nclass Detached(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        return self.fc(x).detach() * 2 + self.fc(x)\n\n\nclass Frozen(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n        self.scale = nn.Parameter(torch.ones(4), requires_grad=False)\n        self.fc.bias.requires_grad = False\n\n    def forward(self, x):\n        return self.fc(x) * self.scale\n\n\nclass PaddedEmbedding(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.emb = nn.Embedding(10, 4, padding_idx=0)\n\n    def forward(self, ids):\n        return self.emb(ids)\n\n\nclass MaxNormEmbedding(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.emb = nn.Embedding(10, 4, max_norm=1.0)\n\n    def forward(self, ids):\n        return self.emb(ids)\n\n\nclass InplaceOnView(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        y = self.fc(x)\n        y[:, 0] = y[:, 0] * 3\n        return y\n\n\n'

CUSTOM_FUNCTION = 'import torch\nfrom torch import nn\n\n\nclass CustomFunction(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n        ctx.save_for_backward(x)\n        return x.clamp(min=0)\n\n    @staticmethod\n    def backward(ctx, g):\n        (x,) = ctx.saved_tensors\n        return g * (x > 0).float() * 0.5\n\n\nclass UsesCustomFunction(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        return CustomFunction.apply(self.fc(x))\n'

# its backward scales through a helper whose parameter is untyped to the rules: only a backward run
# during observation shows that `t.mul_(k)` is a tensor method (left as it is, MindSpore's in-place mul
# does nothing on CPU and the gradient is torch's doubled)
IN_PLACE_BACKWARD = (
    "import torch\nfrom torch import nn\n\n\nclass HalfGrad(torch.autograd.Function):\n    @staticmethod\n"
    "    def scale(t, k):\n        t.mul_(k)\n\n    @staticmethod\n"
    "    def forward(ctx, x):\n        return x * 1.0\n\n    @staticmethod\n    def backward(ctx, g):\n"
    "        out = g.clone()\n        HalfGrad.scale(out, 0.5)\n        return out\n\n\n"
    "class UsesHalfGrad(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        return HalfGrad.apply(self.fc(x))\n")

# a function of two outputs (a wavelet's low and high bands): its backward takes one gradient for each
TWO_OUTPUTS = (
    "import torch\nfrom torch import nn\n\n\nclass Bands(torch.autograd.Function):\n    @staticmethod\n"
    "    def forward(ctx, x):\n        return x * 2, x * x\n\n    @staticmethod\n"
    "    def backward(ctx, d_low, d_high):\n        return d_low * 5 + d_high\n\n\n"
    "class SplitBands(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        low, high = Bands.apply(self.fc(x))\n"
    "        return low + high\n")

# a function given the model's layers (a reversible stack's blocks): MindSpore hands bprop no cells (a list
# of cells arrives as a list of None), so forward reruns with the ones it was called with
LAYERS_ARGUMENT = (
    "import torch\nfrom torch import nn\n\n\nclass ThroughLayers(torch.autograd.Function):\n    @staticmethod\n"
    "    def forward(ctx, x, layers):\n        for layer in layers:\n            x = layer(x)\n        return x\n\n"
    "    @staticmethod\n    def backward(ctx, g):\n        return g * 3, None\n\n\n"
    "class Chained(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(4, 4)\n        self.acts = nn.ModuleList([nn.Tanh()])\n\n"
    "    def forward(self, x):\n        return ThroughLayers.apply(self.fc(x), self.acts)\n")

DROPOUT = 'import torch\nfrom torch import nn\nimport torch.nn.functional as F\n\n\nclass WithDropout(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 8)\n        self.drop = nn.Dropout(0.5)\n        self.attn = nn.MultiheadAttention(8, 2, dropout=0.3, batch_first=True)\n\n    def forward(self, x):\n        h = self.drop(self.fc(x))\n        h = F.dropout(h, 0.2, training=self.training)\n        return self.attn(h, h, h)[0]\n'


@pytest.fixture(scope="module")
def report(tmp_path_factory, shared_verifier):
    base = tmp_path_factory.mktemp("grad-semantics")
    (base / "src").mkdir()
    (base / "src" / "gs.py").write_text(SEMANTICS)
    (base / "src" / "custom_fn.py").write_text(CUSTOM_FUNCTION)
    (base / "src" / "drop.py").write_text(DROPOUT)
    (base / "src" / "half_grad.py").write_text(IN_PLACE_BACKWARD)
    (base / "src" / "bands.py").write_text(TWO_OUTPUTS)
    (base / "src" / "chained.py").write_text(LAYERS_ARGUMENT)
    rep = migrate(base / "src", base / "out", MigrateSettings(rounds=0), verifier=shared_verifier)
    return {u.name: u for u in rep.units} | {"out": base / "out"}


@pytest.mark.parametrize("name", ["NoGradBlock", "Detached", "Frozen", "PaddedEmbedding", "MaxNormEmbedding",
                                  "InplaceOnView", "UsesCustomFunction", "SplitBands",
                                  "Chained"])
def test_gradient_semantics_the_rules_carry_verify_at_grad(report, name):
    unit = report[name]
    assert unit.status == "verified-by-rules" and unit.level_reached == "grad", unit.reason
    assert unit.levels["grad"]["status"] == "verified"


def test_a_custom_backward_is_the_gradient_not_autodiff(report):
    # CustomFunction's backward halves relu's gradient: matching torch at grad means MindSpore used it
    assert report["UsesCustomFunction"].levels["grad"]["status"] == "verified"


def test_a_custom_backward_s_tensor_methods_are_seen_in_observation(report):
    unit = report["UsesHalfGrad"]
    assert unit.status == "verified-by-rules" and unit.levels["grad"]["status"] == "verified", unit.reason
    translated = (report["out"] / "half_grad.py").read_text()
    assert "t.copy_(t.mul(k))" in translated and "mul_" not in translated, translated


def test_dropout_is_off_alike_on_both_sides_and_the_report_says_so(report):
    unit = report["WithDropout"]  # a Dropout layer, functional dropout and attention dropout
    assert unit.status == "verified-by-rules" and unit.level_reached == "grad", unit.reason
    assert "dropout off on both sides" in unit.levels["train"]["reason"]


def test_a_custom_backward_s_gradients_are_tensors():
    # `grad_output.clone()` in a backward: Tensor.clone has no CPU kernel, so the rules write copy(); the
    # gradients after ctx are tensors whatever their names (the observation run never executes a backward)
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    out = translate_source("import torch\nfrom torch.autograd import Function\n\n\nclass Clip(Function):\n"
                           "    @staticmethod\n    def forward(ctx, x, limit=1.0):\n        ctx.save_for_backward(x)\n"
                           "        return x.clamp(-limit, limit)\n\n    @staticmethod\n    def backward(ctx, g):\n"
                           "        (x,) = ctx.saved_tensors\n        grad = g.clone()\n"
                           "        return grad * (x.abs() < 1).float(), None\n", load_kb(), "cpu").code
    assert "grad = g.copy()" in out, out
