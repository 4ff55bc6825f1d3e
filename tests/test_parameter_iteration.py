"""The parameters and buffers a module yields are tensors: `for p in self.parameters()`, `for name, p in
model.named_parameters()` and `next(self.parameters())` (a legacy way to build a tensor in the model's
dtype, `param.data.new(*sizes)`). Known statically now: the rules converted such code only where the
observation run executed it (code it never reaches kept `p.data.uniform_`, MindSpore's own method, and
`param.data.new`, which MindSpore's Tensor lacks). The migration on the shared worker checks the whole."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        for name, p in self.named_parameters():
            if "weight" in name:
                p.data.uniform_(-0.1, 0.1)
        for p in self.parameters():
            p.data.clamp_(-0.05, 0.05)

    def _new(self, *sizes):
        param = next(self.parameters())
        return param.data.new(*sizes)

    def forward(self, x):
        y = self.fc(x) + self._new(*x.shape).fill_(1)
        for p in self.parameters():
            y = y + p.size(0) * p.mean()
        return y
'''


def test_parameters_a_module_yields_are_tensors():
    out = translate_source(SOURCE, load_kb(), "cpu").code
    assert "_ms_uniform_(p, -0.1, 0.1)" in out, out
    assert "p.clamp(-0.05, 0.05)" in out, out
    assert "_ms_tensor_new(param.data" in out and "param.data.new(" not in out, out
    # not a module's: a call with a positional argument, and a local `next`
    other = translate_source("def f(store, next):\n    for p in store.parameters(3):\n        p.uniform_(0, 1)\n"
                             "    q = next(store.parameters())\n    return q.uniform_(0, 1)\n", load_kb(), "cpu").code
    assert "_ms_uniform_" not in other, other


def test_a_model_building_tensors_from_its_parameters_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "scaled.py", SOURCE, shared_verifier)
    assert_verified(report, ["Scaled"])
